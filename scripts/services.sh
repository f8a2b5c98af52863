# shellcheck shell=bash
# shellcheck disable=SC2034 # its variables are read by the scripts that source it
# The stack's model, shared by ./stack and scripts/test: its settings and the one
# parser of stack.services, resolved for one topology into the instances to run,
# their ports, state folder, pidfiles, logs and environment. Sourced after
# scripts/lib.sh, never executed. Acts on nothing: starting and stopping is ./stack's.

# ---------------------------------------------------------------- settings
STACK_BASE=${STACK_STATE:-$ROOT/.stack}
CACHE=${STACK_CACHE:-${HOME:-/root}/.cache/stock-alerts}
KAFKA_PARTITIONS=${KAFKA_PARTITIONS:-6}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
HEALTH_TIMEOUT=${STACK_HEALTH_TIMEOUT:-60}
SERVICES_FILE=$ROOT/stack.services

# Finds the kafka-admin helper in whichever tree was built.
kafka_admin_binary() {
  local dir
  for dir in build build-asan; do
    if [[ -x $ROOT/$dir/tools/kafka-admin ]]; then
      printf '%s\n' "$ROOT/$dir/tools/kafka-admin"
      return 0
    fi
  done
  return 1
}

# contract_topics: the Kafka topics of the contract (common/contract.h), one
# a line, as the built kafka-admin names them (nothing when it is not built).
contract_topics() {
  local admin
  admin=$(kafka_admin_binary) || return 1
  "$admin" topics
}

# kafka_version: the one kafka/pom.xml pins; kafka_libs: the broker's
# classpath folder in the cache, which follows the version.
kafka_version() {
  local version
  version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/kafka/pom.xml")
  [[ -n $version ]] || die "no <kafka.version> in kafka/pom.xml"
  printf '%s\n' "$version"
}
kafka_libs() {
  local version
  version=$(kafka_version) || return 1
  printf '%s\n' "$CACHE/kafka-$version/libs"
}

# ---------------------------------------------------------------- the table
# Per service, in file order (SERVICES): SVC_RUN, SVC_PORTS (comma list, default
# topology), SVC_CPORT (container port or ''), SVC_REPLICAS_SPEC (the table's
# field: '-' or N, then TOPOLOGY:N exceptions), SVC_REPLICAS ('-' or N: the
# count of the loaded topology, see topology_load), SVC_HEALTH, SVC_TOPOS
# (comma list). ENV_LINES: "SERVICES TOPOLOGY ENTRIES..." in file order.
# Per topology: TOPO_OFFSET, TOPO_STATE, TOPO_KNOBS.
SERVICES=()
ENV_LINES=()
declare -A SVC_RUN=() SVC_PORTS=() SVC_CPORT=() SVC_REPLICAS=() SVC_REPLICAS_SPEC=()
declare -A SVC_HEALTH=() SVC_TOPOS=()
declare -A TOPO_OFFSET=() TOPO_STATE=() TOPO_KNOBS=()

# table_read: parses stack.services; dies naming the line of the first mistake.
table_read() {
  local line n=0 kind f
  [[ -r $SERVICES_FILE ]] || die "no services table: $SERVICES_FILE"
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    line=${line%%#*}
    read -ra f <<<"$line"
    ((${#f[@]})) || continue
    kind=${f[0]}
    case $kind in
    service)
      ((${#f[@]} == 7)) || die "stack.services:$n: a service line has 7 fields"
      [[ ${f[1]} =~ ^[a-z][a-z0-9-]*$ ]] || die "stack.services:$n: bad name '${f[1]}'"
      [[ ${f[3]} =~ ^[0-9]+(/[0-9]+)?(,[0-9]+)*$ ]] || die "stack.services:$n: bad ports '${f[3]}'"
      [[ ${f[4]} =~ ^(-|[0-9]+)(,[a-z]+:[0-9]+)*$ ]] ||
        die "stack.services:$n: bad replicas '${f[4]}'"
      [[ ${f[5]} =~ ^(http|redis|kafka|-)$ ]] || die "stack.services:$n: bad health '${f[5]}'"
      case ${f[2]} in
      build/*/* | redis | redis:cluster | kafka | nginx:* | extern) ;;
      *) die "stack.services:$n: bad run '${f[2]}'" ;;
      esac
      SERVICES+=("${f[1]}")
      SVC_RUN[${f[1]}]=${f[2]}
      SVC_CPORT[${f[1]}]=''
      if [[ ${f[3]} == */* ]]; then
        SVC_CPORT[${f[1]}]=${f[3]#*/}
        SVC_CPORT[${f[1]}]=${SVC_CPORT[${f[1]}]%%,*}
        f[3]=${f[3]%%/*}${f[3]#*/"${SVC_CPORT[${f[1]}]}"}
      fi
      SVC_PORTS[${f[1]}]=${f[3]}
      SVC_REPLICAS_SPEC[${f[1]}]=${f[4]}
      SVC_REPLICAS[${f[1]}]=${f[4]%%,*}
      SVC_HEALTH[${f[1]}]=${f[5]}
      SVC_TOPOS[${f[1]}]=${f[6]}
      ;;
    env)
      ((${#f[@]} >= 4)) || die "stack.services:$n: an env line has SERVICE TOPOLOGY VAR=VALUE..."
      ENV_LINES+=("${f[*]:1}")
      ;;
    topology)
      ((${#f[@]} >= 4)) || die "stack.services:$n: a topology line has NAME OFFSET STATE KNOBS..."
      [[ ${f[2]} =~ ^[0-9]+$ ]] || die "stack.services:$n: bad offset '${f[2]}'"
      TOPO_OFFSET[${f[1]}]=${f[2]}
      TOPO_STATE[${f[1]}]=${f[3]}
      TOPO_KNOBS[${f[1]}]="${f[*]:4}"
      ;;
    *) die "stack.services:$n: unknown line kind '$kind'" ;;
    esac
  done <"$SERVICES_FILE"
}

# ---------------------------------------------------------------- a topology
# After topology_load NAME: TOPOLOGY, STATE (its state folder), INSTANCES (every
# instance of its services in table order, manual and extern ones included),
# INST_BASE / INST_INDEX (service and replica index, '' for a single one),
# INST_PORTS (comma list) and INST_MANUAL (1 when `up` does not start it).
TOPOLOGY=''
STATE=''
INSTANCES=()
declare -A INST_BASE=() INST_INDEX=() INST_PORTS=() INST_MANUAL=()
declare -A BASE_PORTS=() BASE_MANUAL=() # service -> ports of replica 0, manual or not

in_topology() { # SERVICE TOPOLOGY: 0 in it, 1 not; prints 'manual' when manual
  local t list
  IFS=, read -ra list <<<"${SVC_TOPOS[$1]}"
  for t in "${list[@]}"; do
    case $t in
    "$2") return 0 ;;
    "$2:manual")
      printf 'manual\n'
      return 0
      ;;
    esac
  done
  return 1
}

# replicas_spec_resolve SERVICE: SVC_REPLICAS of the loaded topology, from
# the table's field ('2,cluster:3': 3 in cluster, 2 elsewhere).
replicas_spec_resolve() {
  local spec=${SVC_REPLICAS_SPEC[$1]} e
  local -a parts
  IFS=, read -ra parts <<<"$spec"
  SVC_REPLICAS[$1]=${parts[0]}
  for e in "${parts[@]:1}"; do
    [[ ${e%%:*} == "$TOPOLOGY" ]] && SVC_REPLICAS[$1]=${e#*:}
  done
  return 0
}

# replicas_of SERVICE: the number of instances ('-' is one, not numbered).
replicas_of() {
  local var=${1^^}_REPLICAS
  var=${var//-/_}
  if [[ ${SVC_REPLICAS[$1]} == - ]]; then
    printf -- '-\n'
  else
    printf '%s\n' "${!var:-${SVC_REPLICAS[$1]}}"
  fi
}

# knob_check VAR TARGET: dies unless the knob's value fits its target.
knob_check() {
  local v=${!1:-}
  [[ -n $v ]] || return 0
  case $2 in
  state) ;;
  +) [[ $v =~ ^-?[0-9]+$ ]] || die "$1 must be a whole number, not '$v'" ;;
  *) is_port "$v" || die "$1 must be a port number, not '$v'" ;;
  esac
}

# ports_shift PORTS DELTA [ALL]: the comma list with DELTA added to its first
# port, or to every port with ALL.
ports_shift() {
  local -a p
  local k
  IFS=, read -ra p <<<"$1"
  for ((k = 0; k < ${#p[@]}; k++)); do
    ((k == 0 || $# > 2)) && p[k]=$((p[k] + $2))
  done
  (
    IFS=,
    printf '%s\n' "${p[*]}"
  )
}

# topology_load TOPOLOGY: resolves the table for one topology (see above).
# Every knob of every topology is checked first, so that a bad value is
# refused whatever the topology.
topology_load() {
  local topo=$1 t knob
  [[ -n ${TOPO_OFFSET[$topo]:-} ]] || die "unknown topology '$topo' (stack.services)"
  for t in "${!TOPO_KNOBS[@]}"; do
    for knob in ${TOPO_KNOBS[$t]}; do
      knob_check "${knob%%=*}" "${knob#*=}"
    done
  done
  TOPOLOGY=$topo
  topology_ports
  topology_instances
}

# topology_ports: STATE and BASE_PORTS (the ports of each service of the
# topology, replica 0's for a replicated one): the table's, plus the offset,
# then moved by the knobs that are set.
topology_ports() {
  local svc knob var target off=${TOPO_OFFSET[$TOPOLOGY]} manual k delta http_delta=''
  local -a p
  STATE=$STACK_BASE/${TOPO_STATE[$TOPOLOGY]}
  [[ ${TOPO_STATE[$TOPOLOGY]} == . ]] && STATE=$STACK_BASE
  for knob in ${TOPO_KNOBS[$TOPOLOGY]}; do
    var=${knob%%=*}
    [[ ${knob#*=} == + && -n ${!var:-} ]] && off=$((off + ${!var}))
    [[ ${knob#*=} == state && -n ${!var:-} ]] && STATE=${!var}
  done
  for svc in "${SERVICES[@]}"; do
    replicas_spec_resolve "$svc"
    manual=$(in_topology "$svc" "$TOPOLOGY") || continue
    BASE_PORTS[$svc]=$(ports_shift "${SVC_PORTS[$svc]}" "$off" all)
    BASE_MANUAL[$svc]=${manual:+1}
  done
  # A knob naming a port is that port; SERVICE+http moves the other http
  # services' ports by as much.
  for knob in ${TOPO_KNOBS[$TOPOLOGY]}; do
    var=${knob%%=*}
    target=${knob#*=}
    [[ $target == + || $target == state || -z ${!var:-} ]] && continue
    svc=${target%%[:+]*}
    [[ -n ${BASE_PORTS[$svc]:-} ]] || die "stack.services: knob $var names $svc, not in $TOPOLOGY"
    k=1
    [[ $target =~ :([0-9]+) ]] && k=${BASH_REMATCH[1]}
    IFS=, read -ra p <<<"${BASE_PORTS[$svc]}"
    ((k >= 1 && k <= ${#p[@]})) || die "stack.services: $svc has no port $k"
    delta=$((${!var} - p[k - 1]))
    p[k - 1]=${!var}
    BASE_PORTS[$svc]=$(
      IFS=,
      printf '%s' "${p[*]}"
    )
    [[ $target == *+http ]] && http_delta=$delta:$svc
  done
  [[ -n $http_delta ]] || return 0
  for svc in "${!BASE_PORTS[@]}"; do
    [[ ${SVC_HEALTH[$svc]} == http && $svc != "${http_delta#*:}" ]] || continue
    BASE_PORTS[$svc]=$(ports_shift "${BASE_PORTS[$svc]}" "${http_delta%%:*}")
  done
}

# topology_instances: INSTANCES and their INST_* from BASE_PORTS, replicas
# numbered, each port checked.
topology_instances() {
  local svc n i port
  local -a p
  INSTANCES=()
  for svc in "${SERVICES[@]}"; do
    [[ -n ${BASE_PORTS[$svc]:-} ]] || continue
    n=$(replicas_of "$svc")
    if [[ $n == - ]]; then
      instance_add "$svc" "$svc" '' "${BASE_PORTS[$svc]}"
      continue
    fi
    [[ $n =~ ^[0-9]+$ ]] || die "$(tr a-z- A-Z_ <<<"$svc")_REPLICAS must be a number"
    for ((i = 0; i < n; i++)); do
      instance_add "$svc-$i" "$svc" "$i" "$(ports_shift "${BASE_PORTS[$svc]}" "$i" all)"
    done
  done
  for svc in "${INSTANCES[@]}"; do
    IFS=, read -ra p <<<"${INST_PORTS[$svc]}"
    for port in "${p[@]}"; do
      is_port "$port" || die "$svc: port $port of topology $TOPOLOGY is out of range"
    done
  done
}

instance_add() { # INSTANCE SERVICE INDEX PORTS
  INSTANCES+=("$1")
  INST_BASE[$1]=$2
  INST_INDEX[$1]=$3
  INST_PORTS[$1]=$4
  INST_MANUAL[$1]=${BASE_MANUAL[$2]:-}
}

# ---------------------------------------------------------------- instances
svc_port() { printf '%s\n' "${INST_PORTS[$1]%%,*}"; }
svc_port_n() { # INSTANCE K: its K-th port (1-based)
  local -a p
  IFS=, read -ra p <<<"${INST_PORTS[$1]}"
  printf '%s\n' "${p[$2 - 1]}"
}
svc_pidfile() { printf '%s\n' "$STATE/run/$1.pid"; }
svc_log() { printf '%s\n' "$STATE/log/$1.log"; }
svc_run() { printf '%s\n' "${SVC_RUN[${INST_BASE[$1]}]}"; }
svc_health() { printf '%s\n' "${SVC_HEALTH[${INST_BASE[$1]}]}"; }
is_instance() { [[ -n ${INST_BASE[$1]:-} ]]; }

# instances_of SERVICE: its instances (replicas) in order.
instances_of() {
  local inst
  for inst in "${INSTANCES[@]}"; do
    [[ ${INST_BASE[$inst]} == "$1" ]] && printf '%s\n' "$inst"
  done
  return 0
}

# first_port_of SERVICE: the first port of its first instance.
first_port_of() {
  local inst
  inst=$(instances_of "$1" | head -n 1)
  [[ -n $inst ]] || die "stack.services: no service $1 in topology $TOPOLOGY"
  svc_port "$inst"
}

# svc_binary INSTANCE: the program it runs (a path for build/ services).
svc_binary() {
  local run
  run=$(svc_run "$1")
  case $run in
  build/*) printf '%s\n' "$ROOT/$run" ;;
  nginx:*) printf '%s\n' /usr/sbin/nginx ;;
  *) printf '%s\n' "$run" ;;
  esac
}

# svc_pattern INSTANCE: what its command line must contain for its pidfile to count.
svc_pattern() {
  case $(svc_run "$1") in
  redis | redis:cluster) printf '%s\n' redis-server ;;
  kafka) printf '%s\n' "$STATE/conf/$1.properties" ;;
  nginx:*) printf '%s\n' "$STATE/conf/nginx.conf" ;;
  *) svc_binary "$1" ;;
  esac
}

svc_pid() {
  pidfile_pid "$(svc_pidfile "$1")" "$(svc_pattern "$1")"
}

# instances_run KIND: the instances whose RUN is KIND, in table order.
instances_run() {
  local inst
  for inst in "${INSTANCES[@]}"; do
    [[ $(svc_run "$inst") == "$1" ]] && printf '%s\n' "$inst"
  done
  return 0
}

# hosts_of SERVICE...: 127.0.0.1:PORT of every instance of the SERVICEs (their
# first ports), comma-separated: a client's list of servers.
hosts_of() {
  local svc inst out=''
  for svc in "$@"; do
    while read -r inst; do
      [[ -n $inst ]] && out+=${out:+,}127.0.0.1:$(svc_port "$inst")
    done < <(instances_of "$svc")
  done
  [[ -n $out ]] || die "stack.services: no instance of $* in topology $TOPOLOGY"
  printf '%s\n' "$out"
}

# kafka_bootstrap: every Kafka broker of the topology, for clients.
kafka_bootstrap() {
  local -a brokers
  mapfile -t brokers < <(instances_run kafka)
  ((${#brokers[@]})) || die "stack.services: no kafka in topology $TOPOLOGY"
  hosts_of "${brokers[@]}"
}

# kafka_node_id INSTANCE: its KRaft node id, its place among the topology's
# brokers (1, 2, ...). kafka_voters: the controller quorum, every broker's
# node id @ its second (controller) port.
kafka_node_id() {
  local inst n=0
  for inst in $(instances_run kafka); do
    n=$((n + 1))
    [[ $inst == "$1" ]] && printf '%s\n' "$n" && return 0
  done
  return 1
}
kafka_voters() {
  local inst n=0 out=''
  for inst in $(instances_run kafka); do
    n=$((n + 1))
    out+=${out:+,}$n@127.0.0.1:$(svc_port_n "$inst" 2)
  done
  printf '%s\n' "$out"
}

# ---------------------------------------------------------------- environment
# secret_value VAR: $VAR when set, else a secret (64 hex characters) generated
# once into the state folder, readable by the owner only.
secret_value() {
  local var=$1 file
  file=$STATE/secret/${1,,}
  if [[ -n ${!var:-} ]]; then
    printf '%s\n' "${!var}"
    return 0
  fi
  if [[ ! -s $file ]]; then
    mkdir -p "$(dirname "$file")"
    chmod 700 "$(dirname "$file")"
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$file")
    chmod 600 "$file"
  fi
  cat "$file"
}

# env_expand INSTANCE VALUE: VALUE with its {...} references filled in.
env_expand() {
  local inst=$1 v=$2 out='' ref val
  local -a names
  while [[ $v =~ ^([^{]*)\{([^}]*)\}(.*)$ ]]; do
    out+=${BASH_REMATCH[1]}
    ref=${BASH_REMATCH[2]}
    v=${BASH_REMATCH[3]}
    case $ref in
    port) val=$(svc_port "$inst") ;;
    i) val=${INST_INDEX[$inst]} ;;
    state) val=$STATE ;;
    port:*) val=$(first_port_of "${ref#port:}") || return 1 ;;
    hosts:*)
      IFS=, read -ra names <<<"${ref#hosts:}"
      val=$(hosts_of "${names[@]}") || return 1
      ;;
    replicas)
      val=$(replicas_of "${INST_BASE[$inst]}")
      [[ $val == - ]] && val=1
      ;;
    secret:*) val=$(secret_value "${ref#secret:}") || return 1 ;;
    env:*)
      val=${ref#env:}
      val=${!val:-}
      ;;
    *) die "stack.services: unknown reference {$ref}" ;;
    esac
    out+=$val
  done
  printf '%s\n' "$out$v"
}

# env_line_applies LINE-WHO SERVICE: the env line's SERVICES field (a comma
# list of services, or 'daemons') names SERVICE.
env_line_applies() {
  local who
  local -a list
  IFS=, read -ra list <<<"$1"
  for who in "${list[@]}"; do
    if [[ $who == daemons ]]; then
      [[ ${SVC_RUN[$2]} == build/* ]] && return 0
    elif [[ $who == "$2" ]]; then
      return 0
    fi
  done
  return 1
}

# svc_env INSTANCE: its environment as NAME=VALUE lines (NAME?=VALUE lines
# already dropped when the caller's environment sets NAME). A variable set
# again by a later line takes that value; only the last one is expanded, so a
# topology may replace a reference to a service it does not have.
svc_env() {
  local inst=$1 base line topo entry var val
  local -a f order=()
  local -A value=()
  base=${INST_BASE[$inst]}
  for line in "${ENV_LINES[@]}"; do
    read -ra f <<<"$line"
    topo=${f[1]}
    [[ $topo == all || $topo == "$TOPOLOGY" ]] || continue
    env_line_applies "${f[0]}" "$base" || continue
    for entry in "${f[@]:2}"; do
      var=${entry%%=*}
      if [[ $var == *\? ]]; then
        var=${var%\?}
        [[ -n ${!var:-} ]] && continue
      fi
      [[ -n ${value[$var]+set} ]] || order+=("$var")
      value[$var]=${entry#*=}
    done
  done
  for var in "${order[@]}"; do
    val=$(env_expand "$inst" "${value[$var]}") || return 1
    printf '%s=%s\n' "$var" "$val"
  done
}

# svc_env_value INSTANCE VAR: the value its environment gives VAR ('' if none).
svc_env_value() {
  local kv
  while IFS= read -r kv; do
    [[ ${kv%%=*} == "$2" ]] && printf '%s\n' "${kv#*=}"
  done < <(svc_env "$1")
  return 0
}

# export_svc_env INSTANCE: exports its environment into the current shell (a
# subshell of the caller's, which starts the process).
export_svc_env() {
  local kv lines
  lines=$(svc_env "$1") || return 1
  while IFS= read -r kv; do
    [[ -n $kv ]] || continue
    if [[ -n ${kv#*=} ]]; then
      export "${kv?}"
    else
      unset "${kv%%=*}"
    fi
  done <<<"$lines"
}
