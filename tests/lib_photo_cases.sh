# lib_photo_cases.sh — what tests/cli_photos.sh and tests/srv_photos_bad.sh both judge about the
# photo variants tests/photo_cases writes (sourced after lib_cli.sh / lib_srv.sh: uses ok, bad).
DIST_MAX=0.25 # same picture re-encoded: measured <= 0.16 (grey loses colour); other people >= 0.75
BOX_TOL=6     # px: EXIF boxes vs the original's on a 227x309 face (measured <= 2)
HUGE_TOL=0.10 # 40 MP: box centre within 10% of the expected width, width within 10%
RSS_SHOWS_KB=20000 # the accepted 40 MP photo must raise the peak RSS this far (above a refusal's)

fcmp() { awk "BEGIN { exit !($1) }"; } # fcmp 'EXPR': floating-point test

# check_variant WHAT V N D X Y W H: one face within DIST_MAX of the original, and for an
# EXIF-rotated variant its box in upright pixels near the original's ($ox $oy $ow $oh).
check_variant() {
  local what=$1 v=$2 n=$3 d=$4 x=$5 y=$6 w=$7 h=$8
  if [ "$n" = 1 ] && fcmp "$d < $DIST_MAX"; then ok "$v: ${what}1 face, distance to the original $d < $DIST_MAX"
  else bad "$v: faces $n, distance $d (wanted 1 face, < $DIST_MAX)"; return; fi
  case $v in exif*)
    if fcmp "($x-$ox)^2 < $BOX_TOL^2 && ($y-$oy)^2 < $BOX_TOL^2 && ($w-$ow)^2 < $BOX_TOL^2 && ($h-$oh)^2 < $BOX_TOL^2"; then
      ok "$v: box ($x, $y) ${w}x$h in upright pixels (original's within $BOX_TOL px)"
    else bad "$v: box ($x, $y) ${w}x$h, the original's is ($ox, $oy) ${ow}x$oh"; fi;;
  esac
}

# gen_cases: tests/photo_cases ($GEN) writes the variants of $PHOTOS into $C, its manifest to
# $C/manifest; fails (after a `bad`) when it could not.
gen_cases() {
  if "$GEN" "$PHOTOS" "$C" > "$C/manifest" 2>"$TMP/gen.err"; then ok "photo_cases wrote $(wc -l < "$C/manifest") cases"
  else bad "photo_cases: $(cat "$TMP/gen.err")"; return 1; fi
}
mf() { grep "^$1 " "$C/manifest" | tr ' ' '\n' | sed -n "s/^$2=//p"; } # mf NAME KEY: a manifest value

# check_huge_box X Y W H: the box found on huge.jpg (the original upscaled into 40 MP) lies where
# the original's box ($ox $oy $ow) lands after the manifest's scale and shift.
check_huge_box() {
  local x=$1 y=$2 w=$3 h=$4 scale dx ex ey ew
  scale=$(mf huge.jpg scale); dx=$(mf huge.jpg dx)
  ex=$(awk "BEGIN { print ($ox + $ow / 2) * $scale + $dx }"); ey=$(awk "BEGIN { print ($oy + $oh / 2) * $scale }")
  ew=$(awk "BEGIN { print $ow * $scale }")
  if fcmp "(($x + $w / 2 - $ex)^2 + ($y + $h / 2 - $ey)^2) < ($HUGE_TOL * $ew)^2 && ($w / $ew - 1)^2 < $HUGE_TOL^2"; then
    ok "huge.jpg: box ($x, $y) ${w}x$h in the 40 MP pixels (expected centre ($ex, $ey), width $ew)"
  else bad "huge.jpg: box ($x, $y) ${w}x$h, expected centre ($ex, $ey), width $ew"; fi
}
