"""The demo mailbox shows a notice as its layout intends (the logo, the hidden preview line, the
button's cell) and still nothing that runs or loads from elsewhere."""

from __future__ import annotations

from portal.mailbox.services import sanitise_html


def test_a_notices_layout_survives_and_nothing_active_does():
    html = sanitise_html(
        '<div style="display:none; max-height:0; overflow:hidden;">Preview</div>'
        '<table role="presentation" width="100%" cellpadding="0" bgcolor="#ffffff"><tr>'
        '<td bgcolor="#0b5cad" style="border-radius:6px;"><a href="https://p.test/ack/x"'
        ' style="display:inline-block; padding:12px 24px;">Acknowledge</a></td>'
        '<td><img src="http://127.0.0.1:5000/static/brand/nimbus-cloud.png" alt="" width="32"'
        ' onerror="alert(1)"><img src="javascript:alert(2)"></td></tr></table>'
        "<script>alert(3)</script>"
    )
    assert 'style="display:none;max-height:0;overflow:hidden"' in html.replace("; ", ";")
    assert 'bgcolor="#0b5cad"' in html and 'role="presentation"' in html
    assert 'src="http://127.0.0.1:5000/static/brand/nimbus-cloud.png"' in html
    assert "onerror" not in html and "javascript:" not in html and "<script" not in html
