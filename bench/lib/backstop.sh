# Sourced by bench/*/run: ends what a bench script started if the python driver itself died (SIGKILL, OOM) before
# its own cleanup ran. The driver records each process group it starts in $WORK/pids and writes $WORK/.cleaned
# once it has ended them all.
backstop() {
  local work=$1
  [ -d "$work" ] || return 0
  [ -e "$work/.cleaned" ] && return 0
  if [ -f "$work/pids" ]; then
    while read -r pid; do kill -KILL -- "-$pid" 2>/dev/null || true; done < "$work/pids"
  fi
  if [ -f "$work/pg/postmaster.pid" ]; then
    local pgbin
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
    else "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true; fi
  fi
  # Previews run in sessions of their own, with their working directory under the work directory.
  local root proc cwd
  root=$(realpath "$work")
  for proc in /proc/[0-9]*; do
    cwd=$(readlink "$proc/cwd" 2>/dev/null) || continue
    case "$cwd" in "$root" | "$root"/*) kill -KILL "${proc#/proc/}" 2>/dev/null || true ;; esac
  done
  echo "backstop: ended what the bench driver left in $work" >&2
}
