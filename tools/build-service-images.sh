#!/usr/bin/env bash
# Builds the real node's images of MariaDB, memcached and RabbitMQ from Debian packages, without a registry: a root
# filesystem made by mmdebstrap, packed by tools/oci_archive.py into a one-layer OCI archive named exactly as the
# OpenStack-Helm charts ask for it, for `ctr images import`.
#
#   tools/build-service-images.sh [mariadb|memcached|rabbitmq ...]    (default: all three)
#
# Prints, on stderr, each image's build time and size; on stdout, one "REFERENCE ARCHIVE" line per archive and, as
# the last line, a directory holding every archive of this set (*.tar) and images.txt (the same lines).
#
# Debian trixie for all three: its MariaDB 11.8 and memcached 1.6.38 are the nearest to the upstream images'
# 11.4.8 and 1.6.32 (bookworm has 10.11 and 1.6.18), its RabbitMQ 4.0.5 the nearest to 4.3.5 (bookworm: 3.10.8,
# older even than the 3.13 the catalog pins for epoxy), and only trixie packages
# pykube-ng, which the mariadb chart's controller imports. What the differences change for the charts:
# - MariaDB 11.8 rather than 11.4: the chart's my.cnf still starts it (innodb_file_format and
#   innodb_locks_unsafe_for_binlog are accepted and ignored, as in 11.4; `utf8` is still utf8mb3); a data
#   directory of 11.4 is moved forward by start.py's mariadb-upgrade, one written by 11.8 cannot go back to 11.4.
# - RabbitMQ 4.0 rather than 4.3: a new node keeps its metadata in Mnesia (Khepri is the default from 4.2 on);
#   the k8s peer discovery asks the API server for the endpoints of $K8S_SERVICE_NAME (the chart's Role allows
#   it) and tries to post Events (the Role does not allow it: answered 403, ignored), where 4.1 and later derive
#   the peers from the StatefulSet ordinal without the API; a node cannot start on a data directory or join a
#   cluster of 4.1 and later (their feature flags); rabbitmqadmin is version 1 (Python), which the charts'
#   scripts detect. The chart's plugin names and rabbitmq.conf keys all exist in 4.0.
# - memcached 1.6.38 rather than 1.6.32: the same options.
#
# Cached in the per-user cache (tools/cache-dir.sh) per image, keyed by a digest of this script, its hook, the
# archive writer, the Debian suite and mmdebstrap's version. Debian replaces a package's version within the suite
# (security fixes), so a build checks the series it expects (`series` in recipe below) and records the exact versions
# in packages.txt next to the archive.
set -euo pipefail
# The images are built in command substitutions: a failure there must stop the script too.
shopt -s inherit_errexit
here=$(cd "$(dirname "$0")" && pwd)
cache="$("$here/cache-dir.sh")/service-images"
hook="$here/service-image-hook.sh"

all=(mariadb memcached rabbitmq)
images=("$@")
[ ${#images[@]} -gt 0 ] || images=("${all[@]}")

if ! command -v mmdebstrap >/dev/null; then
  echo "installing mmdebstrap with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends mmdebstrap >&2
fi

mirror=${OSOP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${OSOP_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
suite=trixie
sources=("deb $mirror $suite main" "deb $mirror $suite-updates main" "deb $security $suite-security main")
path_env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# What each image holds, as the charts' scripts need it (see the comments per image).
recipe() {  # sets: include users series refs files env cmd user
  users=() env=("$path_env" LANG=C.UTF-8) cmd=() user=""
  case $1 in
    mariadb)
      # start.py: mariadbd, mariadb-install-db, mariadb-upgrade, mariadb (client), Python with kubernetes and
      # iso8601; the Galera provider at /usr/lib/galera/libgalera_smm.so and the mariabackup SST (mariadb-backup,
      # socat) of the chart's my.cnf; mariadb_controller.py: pykube; the cluster-wait job: pymysql and pykube;
      # health.sh: bash, awk (gawk, a dependency of mariadb-server), grep -P, df; test.sh: mariadb-slap.
      include=mariadb-server,mariadb-client,mariadb-backup,galera-4,socat,python3,python3-kubernetes
      include+=,python3-iso8601,python3-pykube-ng,python3-pymysql
      users=(mysql:999:999:/var/lib/mysql)
      series="mariadb-server 1:11.8. galera-4 26.4."
      refs=(quay.io/airshipit/mariadb:11.4.8-noble) files=(mariadb.tar)
      cmd=(mariadbd) ;;
    memcached)
      # memcached.sh: sh and memcached, run as nobody (65534, from base-passwd).
      include=memcached
      series="memcached 1.6."
      refs=(quay.io/airshipit/memcached:1.6.32) files=(memcached.tar)
      cmd=(memcached) user=65534 ;;
    rabbitmq)
      # rabbitmq-start.sh and the probes: rabbitmq-server, rabbitmqctl, rabbitmq-diagnostics, bash, awk, timeout;
      # the cookie init container: cp, chown to the user rabbitmq (uid 999, as the charts' runAsUser); the
      # cluster-wait job and keystone's rabbit-init: rabbitmqadmin (version 1, Python). The plugins the chart
      # enables (management, peer_discovery_k8s, prometheus) are in the package. Logs go to stdout as upstream's.
      include=rabbitmq-server,mawk,python3
      users=(rabbitmq:999:999:/var/lib/rabbitmq)
      series="rabbitmq-server 4.0. erlang-base 1:27."
      env+=(HOME=/var/lib/rabbitmq RABBITMQ_LOGS=-)
      # One root filesystem under both names: the management variant differs upstream by rabbitmqadmin and a
      # default enabled_plugins, and both charts that use it bring their own enabled_plugins or need none.
      # The charts say docker.io/rabbitmq; the kubelet asks containerd for the normalized name (library/).
      refs=(docker.io/library/rabbitmq:4.3.5 docker.io/library/rabbitmq:4.3.5-management)
      files=(rabbitmq.tar rabbitmq-management.tar)
      cmd=(rabbitmq-server) ;;
    *) echo "unknown image $1 (known: ${all[*]})" >&2; exit 2 ;;
  esac
}

human() { numfmt --to=iec-i --suffix=B "$1"; }

build_image() {  # build_image NAME: prints the image's cache directory
  local name=$1 key dir rootfs t options=() spec pkg want have i
  recipe "$name"
  key=$( (cat "$here/build-service-images.sh" "$hook" "$here/oci_archive.py"
          printf '%s\n' "$name" "$suite" "${sources[@]}"; mmdebstrap --version) | sha256sum | cut -c1-16)
  dir="$cache/$name/$key"
  if [ -f "$dir/.complete" ]; then
    echo "$name: cached in $dir ($(cat "$dir/build.txt"))" >&2
    echo "$dir"
    return 0
  fi
  mkdir -p "$dir"
  # One mmdebstrap at a time on this machine (2 cores), whichever clone or image started it.
  exec 9>"$cache/mmdebstrap.lock"
  flock 9
  if [ -f "$dir/.complete" ]; then
    flock -u 9
    echo "$dir"
    return 0
  fi
  echo "$name: making the Debian $suite root filesystem ($key) with mmdebstrap" >&2
  t=$SECONDS
  # essential: dpkg and the shell utilities, no apt; no documentation beyond the copyrights, no device nodes (the
  # runtime makes /dev). trixie's base-files makes the merged /usr itself: no merged-usr hook.
  options=(--quiet --variant=essential --skip=output/dev
           --include="$include" --format=tar
           --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
           --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
           --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*')
  if [ ${#users[@]} -gt 0 ]; then
    options+=(--essential-hook="$(printf '%q ' "$hook" users)\"\$1\" $(printf '%q ' "${users[@]}")")
  fi
  options+=(--customize-hook="$(printf '%q ' "$hook" tidy "$name")\"\$1\"")
  rootfs="$dir/rootfs.tar"
  OSOP_PACKAGES_OUT="$dir/packages.txt" mmdebstrap "${options[@]}" "$suite" "$rootfs.tmp" "${sources[@]}" \
    </dev/null >&2
  mv "$rootfs.tmp" "$rootfs"
  flock -u 9
  # The series this script was written and checked against; another one needs the charts' scripts re-checked.
  local pins versions=""
  read -r -a pins <<<"$series"
  for ((i = 0; i < ${#pins[@]}; i += 2)); do
    pkg=${pins[$i]} want=${pins[$((i + 1))]}
    have=$(awk -v p="$pkg" '$1 == p {print $2}' "$dir/packages.txt")
    if [[ $have != "$want"* ]]; then
      echo "$name: $pkg is ${have:-missing} in Debian $suite, this script expects ${want}x" >&2
      exit 1
    fi
    versions+=" $pkg=$have"
  done
  local config=()
  for spec in "${env[@]}"; do config+=(--env "$spec"); done
  for spec in "${cmd[@]}"; do config+=(--cmd "$spec"); done
  [ -z "$user" ] || config+=(--user "$user")
  for i in "${!refs[@]}"; do
    python3 "$here/oci_archive.py" --layer "$rootfs" --name "${refs[$i]}" --output "$dir/${files[$i]}.tmp" \
      "${config[@]}"
    mv "$dir/${files[$i]}.tmp" "$dir/${files[$i]}"
  done
  rm -f "$rootfs"
  echo "built in $((SECONDS - t))s, $(human "$(stat -c %s "$dir/${files[0]}")") uncompressed;$versions" \
    >"$dir/build.txt"
  touch "$dir/.complete"
  echo "$name: $(cat "$dir/build.txt")" >&2
  echo "$dir"
}

# The set: one directory naming every archive built here, for the node's import step.
lines=()
for name in "${images[@]}"; do
  dir=$(build_image "$name")
  recipe "$name"
  for i in "${!refs[@]}"; do lines+=("${refs[$i]} $dir/${files[$i]}"); done
done
set_key=$(printf '%s\n' "${lines[@]}" | sha256sum | cut -c1-16)
set_dir="$cache/sets/$set_key"
if [ ! -f "$set_dir/images.txt" ]; then
  mkdir -p "$set_dir"
  for line in "${lines[@]}"; do ln -sfn "${line#* }" "$set_dir/$(basename "${line#* }")"; done
  printf '%s\n' "${lines[@]}" >"$set_dir/images.txt.tmp"
  mv "$set_dir/images.txt.tmp" "$set_dir/images.txt"
fi
printf '%s\n' "${lines[@]}"
echo "$set_dir"
