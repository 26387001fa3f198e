#!/usr/bin/env bash
# mmdebstrap hooks of tools/build-openstack-images.sh: the Python virtualenv from PyPI and the layout the
# OpenStack-Helm charts' scripts expect in the keystone, openstack-client and gnocchi images.
#
#   openstack-image-hook.sh user ROOT NAME UID HOME                          (essential hook: before the packages)
#   openstack-image-hook.sh install ROOT LOCK PIP_CACHE                      (the venv, exactly as the lock says)
#   openstack-image-hook.sh resolve ROOT REQUIREMENTS CONSTRAINTS PIP_CACHE REPORT   (--relock: let pip choose)
#   openstack-image-hook.sh check IMAGE ROOT                                 (what the charts run, started once)
#   openstack-image-hook.sh tidy IMAGE ROOT
#
# The tidy step also writes the Debian and Python package versions to $OSOP_PACKAGES_OUT (a file outside the root).
set -euo pipefail

# The charts' scripts run `python`, `keystone-manage` and `openstack` from PATH (upstream's LOCI images put their
# venv there too); the image's PATH starts with its bin.
venv=/var/lib/openstack
pip_options=(--no-input --disable-pip-version-check --only-binary=:all: --cache-dir=/var/cache/osop-pip)

# pip in the root filesystem reaches PyPI with the host's resolver and trusted certificates (a machine behind a TLS
# proxy trusts its CA there, not in Debian's bundle) and keeps its downloads in the per-user cache across builds;
# all of it is undone before mmdebstrap packs the root. The host's PIP_* settings (find-links of this machine's
# wheel directory and the like) are not passed on: only PyPI.
with_network() {  # with_network ROOT PIP_CACHE COMMAND...
  local root=$1 cache=$2 had_resolv=yes rc=0
  local host_ca=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
  shift 2
  mkdir -p "$cache" "$root/var/cache/osop-pip"
  if [ ! -e "$root/etc/resolv.conf" ]; then
    had_resolv=no
    cp /etc/resolv.conf "$root/etc/resolv.conf"
  fi
  cp "$host_ca" "$root/tmp/osop-ca.crt"
  mount --bind "$cache" "$root/var/cache/osop-pip"
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    PIP_CERT=/tmp/osop-ca.crt ${PIP_INDEX_URL:+PIP_INDEX_URL=$PIP_INDEX_URL} ${https_proxy:+https_proxy=$https_proxy} \
    PIP_DEFAULT_TIMEOUT=180 "$@" || rc=$?
  umount "$root/var/cache/osop-pip"
  rmdir "$root/var/cache/osop-pip"
  rm -f "$root/tmp/osop-ca.crt"
  [ "$had_resolv" = yes ] || rm -f "$root/etc/resolv.conf"
  return "$rc"
}

# The charts run keystone as uid/gid 42424 and its scripts chown to the user `keystone` by name. Made before the
# packages install, so nothing else takes the ids first.
add_user() {
  local root=$1 name=$2 id=$3 home=$4
  if cut -d: -f3 "$root/etc/passwd" "$root/etc/group" | grep -qx "$id"; then
    echo "id $id is taken in the image; cannot add $name" >&2
    exit 1
  fi
  echo "$name:x:$id:" >>"$root/etc/group"
  echo "$name:x:$id:$id:$name:$home:/usr/sbin/nologin" >>"$root/etc/passwd"
  if [ -f "$root/etc/shadow" ]; then echo "$name:!:1::::::" >>"$root/etc/shadow"; fi
  if [ -f "$root/etc/gshadow" ]; then echo "$name:!::" >>"$root/etc/gshadow"; fi
}

make_venv() {
  local root=$1
  # Debian's python3 (the one libapache2-mod-wsgi-py3 embeds): the venv's packages are ABI-compatible with it.
  chroot "$root" /usr/bin/python3 -m venv "$venv"
}

install_locked() {
  local root=$1 lock=$2 cache=$3
  make_venv "$root"
  cp "$lock" "$root/tmp/osop.lock"
  # --no-deps: the lock lists every distribution; --require-hashes: the same files as when it was written.
  with_network "$root" "$cache" "$venv/bin/pip" install "${pip_options[@]}" --no-deps --require-hashes \
    -r /tmp/osop.lock
  rm -f "$root/tmp/osop.lock"
  chroot "$root" "$venv/bin/pip" check
}

resolve() {
  local root=$1 reqs=$2 constraints=$3 cache=$4 report=$5
  make_venv "$root"
  cp "$reqs" "$root/tmp/osop.in"
  cp "$constraints" "$root/tmp/osop.constraints"
  with_network "$root" "$cache" "$venv/bin/pip" install "${pip_options[@]}" --report /tmp/osop-report.json \
    -r /tmp/osop.in -c /tmp/osop.constraints
  cp "$root/tmp/osop-report.json" "$report"
  rm -f "$root/tmp/osop.in" "$root/tmp/osop.constraints" "$root/tmp/osop-report.json"
}

tidy_keystone() {
  local root=$1 conf
  conf="$root/etc/apache2"
  # The chart runs `apache2 -DFOREGROUND` as uid 42424 with a read-only root filesystem; only /var/run/apache2,
  # /var/log/apache2, /var/lock (oslo's lock path) and /tmp are writable volumes, and /var/lock/apache2 is not in
  # the empty /var/lock volume. Apache's mutex files (mod_wsgi's among them) go to the run directory instead.
  sed -i 's|^export APACHE_LOCK_DIR=.*|export APACHE_LOCK_DIR=$APACHE_RUN_DIR|' "$conf/envvars"
  grep -q '^export APACHE_LOCK_DIR=\$APACHE_RUN_DIR$' "$conf/envvars"
  # The chart brings its own Listen and virtual host (conf-enabled/wsgi-keystone.conf) and an empty ports.conf;
  # Debian's default site would only add a second virtual host.
  rm -f "$conf/sites-enabled/000-default.conf"
  # The chart's WSGIDaemonProcess names no python-home: the embedded interpreter (the same Debian python3 the venv
  # was made from) finds keystone through this server-wide setting.
  printf '# The OpenStack virtualenv the image installed keystone into.\nWSGIPythonHome %s\n' "$venv" \
    >"$conf/conf-available/openstack-venv.conf"
  ln -sfn ../conf-available/openstack-venv.conf "$conf/conf-enabled/openstack-venv.conf"
  for mod in wsgi mpm_event; do
    if [ ! -e "$conf/mods-enabled/$mod.load" ]; then
      echo "apache2 module $mod is not enabled in the image" >&2
      exit 1
    fi
  done
  # Mount points of the chart's volumes (the wsgi script is a subPath of its ConfigMap); keystone owns its
  # configuration and state directories as in upstream's image.
  mkdir -p "$root/var/www/cgi-bin/keystone" "$root/etc/keystone/fernet-keys" "$root/etc/keystone/credential-keys" \
    "$root/etc/keystone/domains" "$root/var/lib/keystone" "$root/var/log/keystone"
  chown -R 42424:42424 "$root/etc/keystone" "$root/var/lib/keystone" "$root/var/log/keystone"
}

# Each program the charts' scripts start, started once in the root before it is packed: a missing shared library
# (numpy's libstdc++) or module fails the build, not a pod on a node.
check_image() {
  local name=$1 root=$2 run=(chroot "$2" /usr/bin/env -i PATH="$venv/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME=/root)
  case $name in
    keystone) "${run[@]}" keystone-manage --version >/dev/null ;;
    openstack-client) "${run[@]}" openstack --version >/dev/null ;;
    gnocchi)
      "${run[@]}" uwsgi --version >/dev/null
      "${run[@]}" gnocchi --version >/dev/null
      # gnocchi-upgrade, gnocchi-metricd and the API's module read a configuration first, so their code is imported
      # instead: the commands, the application and the drivers of templates/services/gnocchi.yaml.j2
      "${run[@]}" python -c 'import gnocchi.cli.manage, gnocchi.cli.metricd, gnocchi.rest.app
import gnocchi.indexer.sqlalchemy, gnocchi.storage.file, gnocchi.incoming.redis, pymysql, tooz.drivers.redis' ;;
    *) echo "unknown image $name" >&2; exit 2 ;;
  esac
}

tidy_gnocchi() {
  local root=$1
  # Mount points of the chart's volumes: its configuration files are subPaths of /etc/gnocchi, and the time series
  # (the file driver's basepath) a volume at /var/lib/gnocchi.
  mkdir -p "$root/etc/gnocchi" "$root/var/lib/gnocchi"
}

tidy_common() {
  local root=$1
  # Nothing installs packages at run time; pip's own files stay in the venv (as upstream's).
  rm -rf "$root/var/cache/apt" "$root/var/lib/apt/lists" "$root/var/cache/debconf/"*-old "$root/var/log/"*.log \
    "$root/root/.cache"
  if [ -n "${OSOP_PACKAGES_OUT:-}" ]; then
    {
      dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Package} ${Version}\n'
      if [ -x "$root$venv/bin/pip" ]; then
        chroot "$root" "$venv/bin/pip" list --format=freeze --disable-pip-version-check | sed 's/^/pypi:/'
      fi
    } >"$OSOP_PACKAGES_OUT"
  fi
}

case ${1:-} in
  user) shift; add_user "$@" ;;
  install) shift; install_locked "$@" ;;
  resolve) shift; resolve "$@" ;;
  check) check_image "$2" "$3" ;;
  tidy)
    case $2 in
      keystone) tidy_keystone "$3" ;;
      openstack-client) ;;
      gnocchi) tidy_gnocchi "$3" ;;
      *) echo "unknown image $2" >&2; exit 2 ;;
    esac
    tidy_common "$3" ;;
  *) echo "usage: $0 user ROOT NAME ID HOME | install ROOT LOCK PIP_CACHE | resolve ROOT REQS CONSTRAINTS PIP_CACHE REPORT | check IMAGE ROOT | tidy IMAGE ROOT" >&2
     exit 2 ;;
esac
