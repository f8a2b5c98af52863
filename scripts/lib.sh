# shellcheck shell=bash
# Helpers shared by ./stack and scripts/*: progress output and process control
# (start a command in its own session with a pidfile, stop it TERM -> KILL).
# Sourced, never executed.

say() { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
  printf 'ERROR: %s\n' "$*" >&2
  exit 1
}

# is_port VALUE: true when VALUE is a TCP port number.
is_port() {
  [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= 65535))
}

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pid_alive PID: true when PID exists and is not a zombie.
pid_alive() {
  local pid=$1 stat
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  # Field 3 follows the command name, which is in parentheses and may hold spaces.
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# pidfile_pid PIDFILE PATTERN: prints the pid recorded in PIDFILE when that
# process is alive and its command line contains PATTERN (so a pid recycled
# after a reboot is never mistaken for ours); fails otherwise.
pidfile_pid() {
  local pidfile=$1 pattern=$2 pid='' cmdline
  [[ -r $pidfile ]] || return 1
  read -r pid <"$pidfile" || [[ -n $pid ]] || return 1
  pid_alive "$pid" || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$pattern"* ]] || return 1
  printf '%s\n' "$pid"
}

# spawn PIDFILE LOGFILE CMD...: runs CMD in the background in a new session, so
# it is its own process group and outlives the caller's terminal. stdin is
# /dev/null, stdout and stderr are appended to LOGFILE, CMD's pid goes to
# PIDFILE (written by the child itself, right before exec). Fails when the
# pidfile does not appear within 5 s. Polled often: the chaos suite restarts
# killed daemons through here in a loop.
spawn() {
  local pidfile=$1 logfile=$2 i
  shift 2
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  rm -f "$pidfile"
  printf -- '---- %s starting: %s\n' "$(date '+%F %T')" "$*" >>"$logfile"
  # shellcheck disable=SC2016 # $$ and $@ expand in the child shell.
  setsid bash -c 'echo "$$" >"$0" && exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$logfile" 2>&1 &
  for ((i = 0; i < 250; i++)); do
    [[ -s $pidfile ]] && return 0
    sleep 0.02
  done
  return 1
}

# stop_pidfile NAME PIDFILE PATTERN [TIMEOUT]: SIGTERM to the process group of
# the pid in PIDFILE, waits up to TIMEOUT (default 15) seconds, then SIGKILLs
# the group. Removes PIDFILE. Succeeds when nothing was running.
stop_pidfile() {
  local name=$1 pidfile=$2 pattern=$3 timeout=${4:-15} pid i
  if ! pid=$(pidfile_pid "$pidfile" "$pattern"); then
    rm -f "$pidfile"
    return 0
  fi
  printf '    stopping %s (pid %s) ' "$name" "$pid"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    pid_alive "$pid" || break
    ((i % 10 == 9)) && printf '.'
    sleep 0.1
  done
  if pid_alive "$pid"; then
    printf ' still running after %ss: SIGKILL\n' "$timeout"
  else
    printf ' stopped\n'
  fi
  # Always sweep the group: children the leader left behind go too.
  kill -KILL -- "-$pid" 2>/dev/null || true
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    pid_alive "$pid" || break
    sleep 0.1
  done
  rm -f "$pidfile"
}

# wait_for NAME TIMEOUT PID CHECK...: runs CHECK until it succeeds (returns 0),
# the process PID exits (returns 1) or TIMEOUT seconds pass (returns 1).
# PID may be empty. Prints one progress line.
wait_for() {
  local name=$1 timeout=$2 pid=$3 start=$SECONDS i=0
  shift 3
  printf '    waiting for %s ' "$name"
  while :; do
    if "$@" >/dev/null 2>&1; then
      printf ' ready (%ss)\n' "$((SECONDS - start))"
      return 0
    fi
    if [[ -n $pid ]] && ! pid_alive "$pid"; then
      printf ' process exited\n'
      return 1
    fi
    if ((SECONDS - start >= timeout)); then
      printf ' timed out after %ss\n' "$timeout"
      return 1
    fi
    i=$((i + 1))
    ((i % 4 == 0)) && printf '.'
    sleep 0.25
  done
}

# show_log_tail LOGFILE: prints the last lines of LOGFILE to stderr, indented.
show_log_tail() {
  [[ -r $1 ]] || return 0
  printf '    --- last lines of %s ---\n' "$1" >&2
  tail -n "${2:-20}" "$1" | sed 's/^/    | /' >&2
}

# render_template TEMPLATE OUTPUT NAME=VALUE...: writes TEMPLATE with every
# __NAME__ replaced by its VALUE to OUTPUT (through OUTPUT.tmp, so a reader
# never sees half a file). Lines starting with ## are the template's own notes
# and are left out. Fails, writing nothing, when a placeholder stays unfilled.
render_template() {
  local in=$1 out=$2 line kv
  shift 2
  mkdir -p "$(dirname "$out")"
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line == '##'* ]] && continue
    for kv in "$@"; do
      line=${line//"__${kv%%=*}__"/"${kv#*=}"}
    done
    printf '%s\n' "$line"
  done <"$in" >"$out.tmp" || return 1
  if grep -q '__[A-Z][A-Z_]*__' "$out.tmp"; then
    warn "unfilled placeholder in $out: $(grep -o '__[A-Z][A-Z_]*__' "$out.tmp" | head -n 1)"
    rm -f "$out.tmp"
    return 1
  fi
  mv "$out.tmp" "$out"
}

# ensure_aiosmtpd: aiosmtpd, the real SMTP server the e-mail tests and the
# chaos storm start (tests/lib/smtp_sink.py), from PyPI into a venv of the
# cache (as scripts/load does for Locust); exports TEST_SMTP_PYTHON. Without
# it (no network) the e-mail tests skip, they do not fail.
ensure_aiosmtpd() {
  local venv=${STACK_CACHE:-${HOME:-/root}/.cache/stock-alerts}/venv-smtp
  if ! "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
    info "installing aiosmtpd into $venv"
    { python3 -m venv "$venv" &&
      "$venv/bin/pip" install -q --disable-pip-version-check "${AIOSMTPD_VERSION:-aiosmtpd>=1.4}"; } ||
      { warn "aiosmtpd could not be installed: the e-mail tests will skip"; return 0; }
  fi
  export TEST_SMTP_PYTHON=$venv/bin/python
}
