#!/usr/bin/python3
"""beenet_listen: the beenet element from Python (PyGObject), as
examples/c/beenet-listen.c: one line per window and per detected keyword.

    beenet_listen.py [--threshold T] [--retune-after S] [--retune-threshold T]
                     [FILE | URI | --mic [--device NAME]]

Exit status: 0 at end of stream, 1 on a pipeline error (a file that cannot
be opened, a device that does not exist: the bus ERROR is printed, the
program never waits silently), 2 on bad usage.
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def pipeline_description(args):
    if args.mic:
        src = "pulsesrc" + (' device="%s"' % args.device if args.device else "")
    elif args.source is None:
        src = "audiotestsrc wave=pink-noise num-buffers=150"
    elif Gst.uri_is_valid(args.source):
        src = 'uridecodebin uri="%s"' % args.source
    else:
        src = 'filesrc location="%s" ! decodebin' % args.source
    return ("%s ! audioconvert ! beenet name=kws threshold=%g ! fakesink"
            % (src, args.threshold))


def seconds(s):
    ok, ts = s.get_uint64("timestamp")
    return ts / Gst.SECOND if ok and ts != Gst.CLOCK_TIME_NONE else -1.0


class Listener:
    def __init__(self, pipeline, args):
        self.loop = GLib.MainLoop()
        self.kws = pipeline.get_by_name("kws")
        self.args = args
        self.retuned = False
        self.status = 0

    def on_element(self, s):
        if s.get_name() == "beenet":
            print("window %.3f s: %s exit %d/%d entropy %.3f" % (
                seconds(s), s.get_string("label"), s.get_value("exit"),
                s.get_value("num-exits"), s.get_value("entropy")))
            self.retune_if_due(seconds(s))
        elif s.get_name() == "beenet-detection":
            print("detection %.3f s: %s score %.3f" % (
                seconds(s), s.get_string("keyword"), s.get_value("score")))

    def retune_if_due(self, t):
        after = self.args.retune_after
        if self.retuned or after is None or t < after:
            return
        self.retuned = True
        # properties of beenet can be changed while PLAYING
        self.kws.set_property("threshold", self.args.retune_threshold)
        print("threshold %g from %.3f s" % (self.args.retune_threshold, t))

    def on_message(self, bus, msg):
        if msg.type == Gst.MessageType.ELEMENT:
            self.on_element(msg.get_structure())
        elif msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            print("error from %s: %s" % (msg.src.get_name(), err.message),
                  file=sys.stderr)
            if debug:
                print("  (%s)" % debug, file=sys.stderr)
            self.status = 1
            self.loop.quit()
        elif msg.type == Gst.MessageType.EOS:
            print("end of stream")
            self.loop.quit()
        return True


def run(desc, args):
    try:
        pipeline = Gst.parse_launch(desc)
    except GLib.Error as e:
        print('could not build "%s": %s' % (desc, e.message), file=sys.stderr)
        return 1
    listener = Listener(pipeline, args)
    bus = pipeline.get_bus()
    bus.add_watch(GLib.PRIORITY_DEFAULT, listener.on_message)
    # a failure to start is reported as an ERROR message on the bus
    pipeline.set_state(Gst.State.PLAYING)
    try:
        listener.loop.run()
    finally:
        pipeline.set_state(Gst.State.NULL)
        bus.remove_watch()
    return listener.status


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", nargs="?", help="FILE or URI (default: test noise)")
    p.add_argument("--threshold", type=float, default=0.75)
    p.add_argument("--retune-after", type=float, metavar="S")
    p.add_argument("--retune-threshold", type=float, default=0.25)
    p.add_argument("--mic", action="store_true", help="listen to pulsesrc")
    p.add_argument("--device", help="PulseAudio source for --mic")
    args = p.parse_args(argv[1:])
    Gst.init(None)
    return run(pipeline_description(args), args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
