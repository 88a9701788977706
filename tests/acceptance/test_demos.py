#!/usr/bin/python3
"""Acceptance: the project's own demos detect the keywords they speak (issue 7).

* `pipelines/espeak.sh` with no arguments speaks "yes. no. up. down. left.
  right. on. off. stop. go." through the GStreamer espeak element: the
  beenet-detection messages must name exactly those ten keywords, in order.
* The README quick start (tools/quickstart.sh) speaks "yes. . . . stop. . . .
  go." with espeak-ng into a WAV and classifies the file: detections must be
  exactly yes, stop, go.

Both run the embedded default model with the element's default settings.
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
DET_RE = re.compile(r"beenet-detection, .*?keyword=\(string\)([^,;]+)")


def detections(output):
    return DET_RE.findall(output)


class Demos(unittest.TestCase):
    def test_espeak_pipeline_detects_its_keywords(self):
        out = subprocess.run([os.path.join(SRC, "pipelines", "espeak.sh")], capture_output=True,
                             text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        got = detections(out.stdout)
        print("espeak.sh detections:", got)
        self.assertEqual(got, ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"])

    @unittest.skipUnless(shutil.which("espeak-ng"), "espeak-ng missing")
    def test_readme_quickstart_detects_its_keywords(self):
        with tempfile.TemporaryDirectory() as tmp:
            wav = os.path.join(tmp, "speech.wav")
            # the README quick start's audio (tools/quickstart.sh)
            subprocess.run(["espeak-ng", "-v", "en-us", "-g", "40", "-w", wav,
                            "yes. . . . stop. . . . go."], check=True)
            out = subprocess.run(["gst-launch-1.0", "-m", "filesrc", "location=" + wav, "!", "decodebin",
                                  "!", "audioconvert", "!", "audioresample", "!", "beenet", "threshold=0.5",
                                  "!", "fakesink"], capture_output=True, text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stderr)
            got = detections(out.stdout)
            print("quick start detections:", got)
            self.assertEqual(got, ["yes", "stop", "go"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
