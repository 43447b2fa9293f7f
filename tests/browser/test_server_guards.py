"""Against a running ``streamlit run app.py``: no upload from a session that has not signed in,
and no cache clearing by anyone but an administrator (issue 14, finding 3).

A scripted client, no browser: it opens the WebSocket as the page would,
gets a session id, and then PUTs a file to Streamlit's upload endpoint with an
XSRF cookie and header it wrote itself (the XSRF check compares the two, so
it passes), and sends the ``clear_cache`` message. Before
``pages/_server_guards.py`` the upload was stored (HTTP 204: five such 40 MB
uploads were held in memory) and the caches of every user were cleared.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from streamlit_browser import free_port, streamlit_server

pytestmark = [pytest.mark.slow]


def _session_id(ws_url: str, xsrf: str):
    """A connected WebSocket session of the app and its id, once its first run finished.

    The guards are installed by app.py's first run in the server process.
    """
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    ws = connect(ws_url, subprotocols=["streamlit", xsrf], open_timeout=60, legacy=True)
    msg = BackMsg()
    msg.rerun_script.query_string = ""
    ws.send(msg.SerializeToString())
    session_id = None
    for _ in range(500):  # until the sign-in page's run has finished
        forward = ForwardMsg()
        forward.ParseFromString(ws.recv(timeout=60))
        kind = forward.WhichOneof("type")
        if kind == "new_session":
            session_id = forward.new_session.initialize.session_id
        elif kind == "script_finished" and session_id is not None:
            return ws, session_id
    raise AssertionError("the first run did not finish")


def _put_upload(base: str, session_id: str, xsrf: str, size: int) -> int:
    """PUT a file to the upload endpoint; the HTTP status of the answer.

    A server may refuse before it has read the whole body, and close: the
    client's write then fails with a broken pipe although the refusal is
    already on its way. So the body is sent with ``http.client`` and the
    answer read even after such a write error (urllib raised the write error
    instead, once in a few runs with a 1 MB body).
    """
    import http.client
    from urllib.parse import urlsplit

    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + bytes(size)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.putrequest("PUT", f"/_stcore/upload_file/{session_id}/{uuid.uuid4()}")
        for name, value in (
            ("Content-Type", f"multipart/form-data; boundary={boundary}"),
            ("Content-Length", str(len(body))),
            ("X-Xsrftoken", xsrf),
            ("Cookie", f"_streamlit_xsrf={xsrf}"),
        ):
            conn.putheader(name, value)
        conn.endheaders()
        try:
            conn.send(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the body was read: the answer says why
        return conn.getresponse().status
    finally:
        conn.close()


def test_anonymous_sessions_can_neither_upload_nor_clear_the_caches(tmp_path: Path):
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string

    log = tmp_path / "server.log"
    port = free_port()
    with streamlit_server(tmp_path / "data", log, port=port) as server:
        xsrf = generate_xsrf_token_string()  # any client can make one
        ws, session_id = _session_id(f"ws://127.0.0.1:{port}/_stcore/stream", xsrf)
        try:
            assert _put_upload(server.url, session_id, xsrf, 256_000) == 400
            assert _put_upload(server.url, "no-such-session", xsrf, 10) == 400
            clear = BackMsg()
            clear.clear_cache = True
            ws.send(clear.SerializeToString())
            ws.send(BackMsg(app_heartbeat=True).SerializeToString())  # processed after it
            for _ in range(50):
                if "Clear-cache request refused" in log.read_text():
                    break
                ws.recv(timeout=30)
        finally:
            ws.close()
        text = log.read_text()
    assert "Upload refused: the session is not signed in." in text
    assert "Clear-cache request refused: only an administrator may." in text
