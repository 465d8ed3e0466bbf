"""Published pages load nothing from the network (checked in headless Chromium)."""
import pytest

from fission.publish.offline import check_page, chromium

pytestmark = pytest.mark.skipif(chromium() is None, reason="chromium is not installed "
                                "(apt-get install chromium; CI installs it)")


def test_the_check_sees_external_requests_and_console_errors(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<html><body><img src="https://example.com/x.png">'
                    '<script>console.error("boom")</script></body></html>')
    res = check_page(page)
    assert res["requests"] == ["https://example.com/x.png"]
    assert any("boom" in m for m in res["console"])


def test_a_self_contained_page_asks_nothing(tmp_path):
    page = tmp_path / "ok.html"
    page.write_text('<html><body><img src="data:image/png;base64,iVBORw0KGgo="><p>正文</p></body></html>')
    assert check_page(page) == {"requests": [], "console": []}
