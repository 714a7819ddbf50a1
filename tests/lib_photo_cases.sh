# lib_photo_cases.sh — what tests/cli_photos.sh and tests/srv_photos_bad.sh both judge about the
# photo variants tests/photo_cases writes (sourced after lib_cli.sh / lib_srv.sh: uses ok, bad).
DIST_MAX=0.25 # same picture re-encoded: measured <= 0.16 (grey loses colour); other people >= 0.75
BOX_TOL=6     # px: EXIF boxes vs the original's on a 227x309 face (measured <= 2)

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
