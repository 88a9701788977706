#!/bin/sh
# tools/beenet-tune driven without a person (issue 11):
#  1. --headless (the same Tuner and Stats classes, no GTK): espeak-ng speech
#     at the default threshold, set to 0 after 4 windows; every window after
#     the change must run all exits (entropy is never below 0: exit 5/5,
#     ops share 1), the windows before must stop earlier on average (with
#     keyword-exit 0: the default model sends keyword candidates to exit 5
#     whatever the threshold);
#  2. the GTK 4 window under Xvfb (xvfb-run): --self-test moves the slider
#     to 0 after 4 windows, screenshots the screen before and after; the
#     change must reach the element (windows classified at threshold 0),
#     and the two screenshots must differ in more than 1 % of their pixels
#     (the plots moved on).
# Skips (77) without /usr/bin/python3 with Gst and Gtk 4 typelibs,
# python3-gi-cairo, xvfb-run, ImageMagick's import/compare or espeak-ng.
#
#   test-beenet-tune.sh SOURCE_ROOT BUILD_ROOT
set -eu
src=$1
build=$2
export GST_PLUGIN_PATH=$build/gst
py=/usr/bin/python3
tune="$src/tools/beenet-tune"

for p in $py espeak-ng xvfb-run import compare; do
  command -v $p >/dev/null 2>&1 || { echo "SKIP: $p not found"; exit 77; }
done
$py -c 'import gi, cairo; gi.require_version("Gtk", "4.0"); gi.require_version("Gst", "1.0"); from gi.repository import Gtk, Gst' 2>/dev/null ||
  { echo "SKIP: PyGObject with Gtk 4, Gst and cairo not found"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
espeak-ng -v en-us+m7 -g 40 -w "$tmp/speech.wav" \
  "yes. . . . stop. . . . go. . . . left. . . . off."
failed=0

# check SUMMARY_JSON: windows at threshold 0 all exit 5; earlier ones less
check_summary() {
  $py - "$1" <<'PY' || failed=1
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
by = s["by_threshold"]
print("windows %d, by threshold %s" % (s["windows"], by))
ok = s["windows"] >= 10 and "0" in by and "0.75" in by
ok = ok and by["0"]["mean_exit"] == 5 and by["0"]["mean_ops"] == 1.0
ok = ok and by["0.75"]["mean_exit"] < 5
ok = ok and sum(s["exit_histogram"]) == s["windows"]
print("PASS" if ok else "FAIL: summary")
sys.exit(0 if ok else 1)
PY
}

$py "$tune" --headless --set-threshold-after 4 --threshold 0 --keyword-exit 0 \
  "$tmp/speech.wav" >"$tmp/headless.json" || { echo "FAIL: --headless"; failed=1; }
check_summary "$tmp/headless.json"

mkdir "$tmp/shots"
GSK_RENDERER=cairo xvfb-run -a -s "-screen 0 900x560x24" \
  $py "$tune" --self-test "$tmp/shots" --threshold 0 --keyword-exit 0 "$tmp/speech.wav" \
  >"$tmp/gui.json" 2>"$tmp/gui.err" || { cat "$tmp/gui.err"; echo "FAIL: --self-test"; failed=1; }
check_summary "$tmp/gui.json"
if [ -s "$tmp/shots/before.png" ] && [ -s "$tmp/shots/after.png" ]; then
  # compare prints the number of differing pixels on stderr (exit 1 = differ)
  diff=$(compare -metric AE "$tmp/shots/before.png" "$tmp/shots/after.png" \
    null: 2>&1 || true)
  echo "screenshots differ in $diff of $((900 * 560)) pixels"
  [ "${diff%%.*}" -gt $((900 * 560 / 100)) ] 2>/dev/null ||
    { echo "FAIL: the plots did not change"; failed=1; }
else
  echo "FAIL: no screenshots"; failed=1
fi
[ -n "${BEENET_TUNE_SHOTS:-}" ] && cp "$tmp/shots/after.png" "$BEENET_TUNE_SHOTS"
[ $failed -eq 0 ] || exit 1
echo "1 passed, 0 failed"
