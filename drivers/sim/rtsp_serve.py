"""An RTSP camera for tests and benchmarks: GStreamer's RTSP server fed raw frames on stdin.

Run with the system Python (Debian's python3-gi and gir1.2-gst-rtsp-server-1.0; the project's
virtual environment has no GObject bindings), never imported by the project:

    /usr/bin/python3 rtsp_serve.py PORT WIDTH HEIGHT FPS KEYINT [USER:PASSWORD]

Serves rtsp://127.0.0.1:PORT/cam as H.264 (x264, zero-latency tuning, a key frame every KEYINT
frames), with HTTP Basic authentication when USER:PASSWORD is given. One pipeline is shared by all
viewers, as a camera's encoder is: a viewer that joins mid-stream waits for the next key frame.
Frames (BGR, WIDTH*HEIGHT*3 bytes each) are read from stdin all the time and pushed when a
pipeline exists, dropped otherwise, so whoever writes them is never held up. The protocol, the
packetising and the authentication are GStreamer's; this file only wires them up.
"""

from __future__ import annotations

import sys
import threading

import gi  # type: ignore[import-not-found]

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # type: ignore[import-not-found]  # noqa: E402


def main() -> None:
    port, width, height, fps, keyint = sys.argv[1:6]
    credentials = sys.argv[6] if len(sys.argv) > 6 else ""
    Gst.init(None)
    frame_bytes = int(width) * int(height) * 3
    current: dict[str, object] = {}

    def configured(_factory: object, media: GstRtspServer.RTSPMedia) -> None:
        current["appsrc"] = media.get_element().get_by_name("src")
        print("streaming", flush=True)  # a viewer made the encoder start

    launch = (
        f"( appsrc name=src is-live=true do-timestamp=true format=time "
        f"caps=video/x-raw,format=BGR,width={width},height={height},framerate={fps}/1 "
        f"! videoconvert ! video/x-raw,format=I420 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast threads=1 key-int-max={keyint} bitrate=4000 "
        f"! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    factory.connect("media-configure", configured)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    if credentials:
        user, password = credentials.split(":", 1)
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("viewer", "media.factory.access", True)
        permissions.add_permission_for_role("viewer", "media.factory.construct", True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory("/cam", factory)
    server.attach(None)
    loop = GLib.MainLoop()

    def feed() -> None:
        stdin = sys.stdin.buffer
        while True:
            data = stdin.read(frame_bytes)
            if len(data) < frame_bytes:
                GLib.idle_add(loop.quit)
                return
            appsrc = current.get("appsrc")
            if appsrc is not None:
                appsrc.emit("push-buffer", Gst.Buffer.new_wrapped(data))  # type: ignore[attr-defined]

    threading.Thread(target=feed, daemon=True).start()
    print("ready", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
