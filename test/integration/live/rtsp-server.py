"""A camera-like RTSP server for the tests: GStreamer's gst-rtsp-server
(Debian: python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good,
gstreamer1.0-plugins-bad), serving a live test pattern as H.264 at
rtsp://127.0.0.1:PORT/live. Prints "ready" once it listens.

usage: rtsp-server.py PORT [FPS]
"""
import sys

import gi

gi.require_version('Gst', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

port = sys.argv[1]
fps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address('127.0.0.1')
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
# One key frame a second, so a client decodes within a second of joining.
factory.set_launch(
    f'( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate={fps}/1,format=I420 '
    f'! openh264enc gop-size={fps} ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )'
)
factory.set_shared(True)
server.get_mount_points().add_factory('/live', factory)
if server.attach(None) == 0:
    print('cannot listen', flush=True)
    sys.exit(1)
print('ready', flush=True)
GLib.MainLoop().run()
