#!/usr/bin/env bash
# mmdebstrap hook of tools/build-service-images.sh: shapes the root filesystem of one service image (mariadb,
# memcached, rabbitmq) so that the OpenStack-Helm charts' scripts find what they expect in it.
#
#   service-image-hook.sh users ROOT NAME:UID:GID:HOME ...   (essential hook: before the service packages install)
#   service-image-hook.sh tidy IMAGE ROOT                      (customize hook: after they installed)
#
# The tidy step also writes the installed package versions to $OSOP_PACKAGES_OUT (a file outside the chroot).
set -euo pipefail

# The charts run the services as fixed uids (runAsUser 999). Debian's maintainer scripts create their system users
# with the next free uid, so the users exist before the packages install: the scripts then keep them and chown
# their files to them.
add_users() {
  local root=$1 spec name uid gid home
  shift
  for spec in "$@"; do
    IFS=: read -r name uid gid home <<<"$spec"
    if grep -q "^$name:" "$root/etc/passwd"; then
      continue
    fi
    if cut -d: -f3 "$root/etc/passwd" | grep -qx "$uid" || cut -d: -f3 "$root/etc/group" | grep -qx "$gid"; then
      echo "uid $uid or gid $gid is taken in the image; cannot add $name" >&2
      exit 1
    fi
    echo "$name:x:$gid:" >>"$root/etc/group"
    echo "$name:x:$uid:$gid:$name:$home:/usr/sbin/nologin" >>"$root/etc/passwd"
    # The shadow files exist only once the passwd package is in; adduser reads them when they do.
    if [ -f "$root/etc/shadow" ]; then echo "$name:!:1::::::" >>"$root/etc/shadow"; fi
    if [ -f "$root/etc/gshadow" ]; then echo "$name:!::" >>"$root/etc/gshadow"; fi
  done
}

tidy_mariadb() {
  local root=$1
  # The chart mounts its own my.cnf (which includes only conf.d/) over this path; a regular file rather than
  # Debian's alternatives symlink, so that the mount lands on /etc/mysql/my.cnf itself.
  rm -f "$root/etc/mysql/my.cnf" "$root/etc/mysql/mariadb.cnf"
  rm -rf "$root/etc/mysql/mariadb.conf.d"
  printf '[client-server]\n!includedir /etc/mysql/conf.d/\n' >"$root/etc/mysql/my.cnf"
  mkdir -p "$root/etc/mysql/conf.d"
  # The pod's volume covers the data directory: the system tables the package made there would only add 100 MiB.
  # (The socket's directory, /run/mysqld, is an emptyDir of the pod; mmdebstrap leaves /run empty.)
  rm -rf "$root/var/lib/mysql"
  mkdir -p "$root/var/lib/mysql" "$root/var/log/mysql"
  chown 999:999 "$root/var/lib/mysql" "$root/var/log/mysql"
  chmod 0700 "$root/var/lib/mysql"
}

tidy_rabbitmq() {
  local root=$1 tool
  # The cookie and the database come from the pod's volume; the package's first-boot leftovers are not wanted.
  find "$root/var/lib/rabbitmq" -mindepth 1 -delete
  chown 999:999 "$root/var/lib/rabbitmq" "$root/var/log/rabbitmq"
  # Debian's commands in /usr/sbin are wrappers for a system service: as rabbitmq they send the server's output to
  # /var/log/rabbitmq/startup_log (not to the pod's log), as root they su to rabbitmq, as any other uid they
  # refuse. The charts call them as uid 999 or root and expect the server's log on stdout, as upstream's image
  # does: the commands point at the real scripts. Those source rabbitmq-env from the directory they were called
  # by, so it goes there too.
  for tool in rabbitmq-server rabbitmqctl rabbitmq-plugins rabbitmq-diagnostics rabbitmq-queues rabbitmq-upgrade \
              rabbitmq-streams rabbitmq-env; do
    if [ -e "$root/usr/lib/rabbitmq/bin/$tool" ]; then
      ln -sfn "../lib/rabbitmq/bin/$tool" "$root/usr/sbin/$tool"
    fi
  done
  # The charts' scripts look for rabbitmqadmin on PATH; Debian's is version 1 (Python), which they tell from
  # version 2 by its '#!'.
  if ! head -c 2 "$root/usr/bin/rabbitmqadmin" | grep -q '#!'; then
    echo "rabbitmqadmin (version 1) missing from the rabbitmq-server package" >&2
    exit 1
  fi
}

tidy_common() {
  local root=$1
  # Nothing installs packages at run time: apt's lists and the package caches are not needed.
  rm -rf "$root/var/cache/apt" "$root/var/lib/apt/lists" "$root/var/cache/debconf/"*-old "$root/var/log/"*.log
  if [ -n "${OSOP_PACKAGES_OUT:-}" ]; then
    dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Package} ${Version}\n' >"$OSOP_PACKAGES_OUT"
  fi
}

case ${1:-} in
  users) shift; add_users "$@" ;;
  tidy)
    case $2 in
      mariadb) tidy_mariadb "$3" ;;
      rabbitmq) tidy_rabbitmq "$3" ;;
      memcached) ;;
      *) echo "unknown image $2" >&2; exit 2 ;;
    esac
    tidy_common "$3" ;;
  *) echo "usage: $0 users ROOT NAME:UID:GID:HOME... | tidy IMAGE ROOT" >&2; exit 2 ;;
esac
