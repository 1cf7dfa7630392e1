# Sourced by benches/scale/run.sh and report_vs_parts.sh.
# measure CMD...: runs CMD $repeats times under GNU time and prints
# "median_wall_seconds peak_rss_kb" (the median of the wall times, the
# largest peak RSS). A command that fails stops the whole script (it
# runs in a subshell here, so the script is signalled): its time would
# be a wrong number.
measure() {
  local times=() peak=0 out tmp
  tmp=$(mktemp)
  for _ in $(seq "$repeats"); do
    if ! /usr/bin/time -f "%e %M" -o "$tmp" "$@" >/dev/null 2>&1; then
      echo "failed: $*" >&2
      rm -f "$tmp"
      kill -TERM $$
      exit 1
    fi
    out=$(tail -1 "$tmp")
    times+=("${out% *}")
    if (( ${out#* } > peak )); then peak=${out#* }; fi
  done
  rm -f "$tmp"
  printf '%s\n' "${times[@]}" | sort -g | awk -v p="$peak" '{a[NR]=$1} END {print a[int((NR+1)/2)], p}'
}
