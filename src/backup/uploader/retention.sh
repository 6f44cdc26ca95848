# shellcheck shell=sh
# --- retention: which good backups to keep (mirror of retainedBackups() in src/backup/retention.ts) ---
# Part of the backup uploader script (see bolt.sh); KEEP, KEEP_DAILY and KEEP_WEEKLY are its settings.
# stdin: good backup names, newest first. stdout: the names to keep. A name
# without a parsable timestamp is always kept: never delete what we cannot date.
retention_keep() {
  awk -v keep="$KEEP" -v daily="$KEEP_DAILY" -v weekly="$KEEP_WEEKLY" '
    function epoch_day(y, m, d,   era, yoe, doy) { # days since 1970-01-01 (proleptic Gregorian)
      y -= (m <= 2); era = int(y / 400); yoe = y - era * 400
      doy = int((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1
      return era * 146097 + yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy - 719468
    }
    NF == 0 { next }
    {
      n++; kept = (n <= keep)
      if ($0 !~ /^etcd-snapshot-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z-/) { print; next }
      day = substr($0, 15, 8)
      dn = epoch_day(substr(day, 1, 4) + 0, substr(day, 5, 2) + 0, substr(day, 7, 2) + 0)
      week = dn - (dn + 3) % 7 # the Monday of its ISO week (1970-01-01 was a Thursday)
      if (!(day in days)) { days[day] = 1; ndays++; if (ndays <= daily) kept = 1 }
      if (!(week in weeks)) { weeks[week] = 1; nweeks++; if (nweeks <= weekly) kept = 1 }
      if (kept) print
    }'
}
