#!/usr/bin/env bash
# Builds OpenStack images without a registry: a Debian root filesystem made by mmdebstrap with a Python virtualenv
# from PyPI at /var/lib/openstack, packed by tools/oci_archive.py into a one-layer OCI archive named exactly as the
# catalog pins it, for `ctr images import` or a registry (skopeo copy oci-archive:...). The real node's images are
# Keystone and the OpenStack client (2026.1, gazpacho); gnocchi's is the one image of the catalog that no registry
# publishes for these charts (docs/images.md): it is built here and pushed to the deployment's registry.
#
#   tools/build-openstack-images.sh [keystone|openstack-client|gnocchi ...]   (default: the real node's two)
#   tools/build-openstack-images.sh --relock [NAME ...]    (rewrite tools/images/NAME.lock, default all, then stop)
#
# Prints, on stderr, each image's build time and size; on stdout, one "REFERENCE ARCHIVE" line per archive and, as
# the last line, a directory holding every archive of this set (*.tar) and images.txt (the same lines).
#
# Debian trixie: its python3 is 3.13, which keystone 29 (2026.1) supports (python_requires >=3.10), and its
# libapache2-mod-wsgi-py3 embeds that same python3, so Apache's mod_wsgi runs the venv's keystone. The Python
# packages come from tools/images/<image>.lock (every distribution, exact version and sha256), written by --relock
# from the top-level pins below; the openstack-client lock is resolved within the keystone lock's versions, so the
# two images agree on every library they share.
#
# Cached in the per-user cache (tools/cache-dir.sh) per image, keyed by a digest of this script, its hooks, the
# lock, the archive writer, the Debian suite and mmdebstrap's version; packages.txt next to the archive records
# the Debian and Python versions installed.
set -euo pipefail
# The images are built in command substitutions: a failure there must stop the script too.
shopt -s inherit_errexit
here=$(cd "$(dirname "$0")" && pwd)
root_cache=$("$here/cache-dir.sh")
cache="$root_cache/openstack-images"
hook="$here/openstack-image-hook.sh"
locks="$here/images"

# The OpenStack 2026.1 (gazpacho) releases on PyPI: keystone's latest stable/2026.1 release and the client the
# release shipped (stable/2026.1 branch, with its bug-fix release). PyMySQL: the charts' mysql+pymysql URLs;
# python-memcached: oslo.cache's dogpile.cache.memcached backend the keystone chart configures; SQLAlchemy: the
# helm-toolkit db-init/db-drop and keystone's cred-clean scripts.
keystone_version=29.1.0
client_version=9.0.1
# gnocchi (its own project, not an OpenStack release's): the latest release, with the drivers the catalog's values
# use (mysql indexer, file storage, redis incoming and coordination, keystone authentication), pyuwsgi (the `uwsgi`
# binary the chart's API container runs) and gnocchiclient (the `gnocchi` CLI of the resources cleaner).
gnocchi_version=4.7.1
requirements() {
  case $1 in
    keystone) printf '%s\n' "keystone==$keystone_version" "python-openstackclient==$client_version" PyMySQL \
                python-memcached ;;
    openstack-client) printf '%s\n' "python-openstackclient==$client_version" PyMySQL SQLAlchemy ;;
    gnocchi) printf '%s\n' "gnocchi[mysql,file,redis,keystone]==$gnocchi_version" pyuwsgi gnocchiclient PyMySQL ;;
  esac
}

all=(keystone openstack-client gnocchi)
node=(keystone openstack-client)
relock=no
images=()
for arg in "$@"; do
  case $arg in
    --relock) relock=yes ;;
    keystone|openstack-client|gnocchi) images+=("$arg") ;;
    *) echo "unknown argument $arg (known: --relock ${all[*]})" >&2; exit 2 ;;
  esac
done
if [ ${#images[@]} -eq 0 ]; then
  if [ "$relock" = yes ]; then images=("${all[@]}"); else images=("${node[@]}"); fi
fi

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

# What each image holds, as the charts' scripts need it.
recipe() {  # sets: include users series ref file cmd
  users=() cmd=()
  case $1 in
    keystone)
      # keystone-api.sh: bash, apache2 with Debian's envvars, mod_wsgi (the chart's wsgi-keystone.conf), the wsgi
      # script mounted at /var/www/cgi-bin/keystone/wsgi.py; db-sync.sh: keystone-manage db_sync and bootstrap;
      # fernet-manage.py (fernet/credential setup and rotate): `python` with requests, keystone-manage, the user
      # and group keystone (uid/gid 42424, the pods' runAsUser); domain-manage.sh: the openstack CLI.
      include=python3,python3-venv,apache2,libapache2-mod-wsgi-py3,ca-certificates
      users=(keystone 42424 /var/lib/keystone)
      series="python3 3.13. apache2 2.4. libapache2-mod-wsgi-py3 5."
      ref=quay.io/airshipit/keystone:2026.1-ubuntu_noble file=keystone.tar
      cmd=(keystone-manage --help) ;;
    openstack-client)
      # bootstrap.sh and helm-toolkit's ks-user/ks-service/ks-endpoints: bash, the openstack CLI, grep, sed, awk;
      # db-init.py/db-drop.py/cred-clean.py: `python` with SQLAlchemy and PyMySQL; the rabbitmq chart's
      # rabbitmq-password-hash.py and its test: python3's standard library. All run as root.
      include=python3,python3-venv,ca-certificates,mawk
      series="python3 3.13."
      ref=quay.io/airshipit/openstack-client:2026.1-ubuntu_noble file=openstack-client.tar
      cmd=(openstack --help) ;;
    gnocchi)
      # api: `uwsgi --ini` (pyuwsgi's binary, in the venv with gnocchi); metricd: gnocchi-metricd; db-sync.sh:
      # gnocchi-upgrade; helm-toolkit's db-init.py: `python` with SQLAlchemy and PyMySQL; the resources cleaner:
      # the `gnocchi` CLI. All run as root: the chart sets no user.
      # libstdc++6: numpy's (and lz4's) compiled modules link it; the essential variant does not bring it.
      include=python3,python3-venv,ca-certificates,libstdc++6
      series="python3 3.13."
      ref=openstack-operator/gnocchi:$gnocchi_version file=gnocchi.tar
      cmd=(gnocchi-api --help) ;;
    *) echo "unknown image $1 (known: ${all[*]})" >&2; exit 2 ;;
  esac
}

human() { numfmt --to=iec-i --suffix=B "$1"; }

# One mmdebstrap at a time on this machine (2 cores): the same lock file as tools/build-service-images.sh.
take_build_lock() {
  mkdir -p "$root_cache/service-images"
  exec 9>"$root_cache/service-images/mmdebstrap.lock"
  flock 9
}

mmdebstrap_options() {  # mmdebstrap_options NAME: sets options (all but the hooks that differ by mode)
  recipe "$1"
  # essential: dpkg and the shell utilities, no apt; no documentation beyond the copyrights, no device nodes.
  options=(--quiet --variant=essential --skip=output/dev --include="$include"
           --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
           --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
           --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*')
  if [ ${#users[@]} -gt 0 ]; then
    options+=(--essential-hook="$(printf '%q ' "$hook" user)\"\$1\" $(printf '%q ' "${users[@]}")")
  fi
}

# --relock: let pip resolve the top-level pins in the image's own Python and write what it chose.
relock_image() {
  local name=$1 work reqs constraints report
  work=$(mktemp -d)
  reqs="$work/requirements.in" constraints="$work/constraints.txt" report="$work/report.json"
  requirements "$name" >"$reqs"
  : >"$constraints"
  if [ "$name" = openstack-client ]; then
    # The keystone lock's versions bound the client's, so shared libraries are the same in both images.
    sed -n 's/^\([^# ][^ ]*==[^ ]*\) .*/\1/p' "$locks/keystone.lock" >"$constraints"
  fi
  mmdebstrap_options "$name"
  options+=(--format=null
            --customize-hook="$(printf '%q ' "$hook" resolve)\"\$1\" $(printf '%q ' "$reqs" "$constraints" \
              "$root_cache/pip" "$report")")
  echo "$name: resolving $(paste -sd' ' "$reqs") with pip in Debian $suite" >&2
  take_build_lock
  mmdebstrap "${options[@]}" "$suite" /dev/null "${sources[@]}" </dev/null >&2
  flock -u 9
  mkdir -p "$locks"
  python3 "$here/pip_lock.py" "$report" \
    --header "Every Python distribution of the $name image, written by tools/build-openstack-images.sh --relock" \
    --header "from: $(paste -sd' ' "$reqs")$( [ -s "$constraints" ] && echo ' within keystone.lock')" \
    --header "for Debian $suite's python3 (x86_64). Do not edit; relock instead." >"$locks/$name.lock.tmp"
  mv "$locks/$name.lock.tmp" "$locks/$name.lock"
  echo "$name: wrote $locks/$name.lock ($(grep -vc '^#' "$locks/$name.lock") distributions)" >&2
  rm -rf "$work"
}

build_image() {  # build_image NAME: prints the image's cache directory
  local name=$1 key dir rootfs t lock="$locks/$1.lock" pins pkg want have i versions=""
  recipe "$name"
  if [ ! -f "$lock" ]; then
    echo "$name: $lock is missing; run $0 --relock" >&2
    exit 1
  fi
  key=$( (cat "$here/build-openstack-images.sh" "$hook" "$here/oci_archive.py" "$lock"
          printf '%s\n' "$name" "$suite" "${sources[@]}"; mmdebstrap --version) | sha256sum | cut -c1-16)
  dir="$cache/$name/$key"
  if [ -f "$dir/.complete" ]; then
    echo "$name: cached in $dir ($(human "$(stat -c %s "$dir/$file")"))" >&2
    echo "$dir"
    return 0
  fi
  mkdir -p "$dir"
  take_build_lock
  if [ -f "$dir/.complete" ]; then
    flock -u 9
    echo "$dir"
    return 0
  fi
  echo "$name: making the Debian $suite root filesystem ($key) with mmdebstrap and pip" >&2
  t=$SECONDS
  mmdebstrap_options "$name"
  options+=(--format=tar
            --customize-hook="$(printf '%q ' "$hook" install)\"\$1\" $(printf '%q ' "$lock" "$root_cache/pip")"
            --customize-hook="$(printf '%q ' "$hook" check "$name")\"\$1\""
            --customize-hook="$(printf '%q ' "$hook" tidy "$name")\"\$1\"")
  rootfs="$dir/rootfs.tar"
  OSOP_PACKAGES_OUT="$dir/packages.txt" mmdebstrap "${options[@]}" "$suite" "$rootfs.tmp" "${sources[@]}" \
    </dev/null >&2
  mv "$rootfs.tmp" "$rootfs"
  flock -u 9
  # The Debian series this script was checked against; another one needs the charts' scripts re-checked.
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
  local config=(--env PATH=/var/lib/openstack/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
                --env LANG=C.UTF-8)
  for i in "${cmd[@]}"; do config+=("--cmd=$i"); done
  python3 "$here/oci_archive.py" --layer "$rootfs" --name "$ref" --output "$dir/$file.tmp" "${config[@]}"
  mv "$dir/$file.tmp" "$dir/$file"
  rm -f "$rootfs"
  touch "$dir/.complete"
  echo "$name: built in $((SECONDS - t))s, $(human "$(stat -c %s "$dir/$file")") uncompressed;$versions" >&2
  echo "$dir"
}

if [ "$relock" = yes ]; then
  # in the order of `all`: keystone first, the client's lock is resolved within it.
  for name in "${all[@]}"; do
    if [[ " ${images[*]} " == *" $name "* ]]; then relock_image "$name"; fi
  done
  exit 0
fi

# The set: one directory naming every archive built here, for the node's import step.
lines=()
for name in "${images[@]}"; do
  dir=$(build_image "$name")
  recipe "$name"
  lines+=("$ref $dir/$file")
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
