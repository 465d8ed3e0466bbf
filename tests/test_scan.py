"""The identifier scan of published pages: what it finds, and what it leaves alone."""
import pandas as pd

from fission.publish.scan import find_identifiers, visible_text


def test_finds_phone_id_card_email_columns_and_device_hashes(tmp_path):
    pd.DataFrame({"user_id": [1, 2], "device_hash": ["32d1fd6d50c43b4e", "1cd7e6dcdeb2173c"]}) \
        .to_parquet(tmp_path / "users.parquet")
    text = ("联系 13912345678 或 a.b@example.com；身份证 110101199003074518；"
            "列 device_hash；设备 32D1FD6D50C43B4E。")
    found = "\n".join(find_identifiers(text, tmp_path))
    for what in ("mobile phone number", "ID-card number", "e-mail address",
                 "identifier column name(s): device_hash", "device hash(es) of the edition's users"):
        assert what in found


def test_a_clean_report_passes():
    text = ("GMV 7,128.8 万元，同比增长 37.7%；用户 158,674 人；数据指纹 030ada75ad65；"
            "订单 13912345 单；比例 0.139123456789。")
    assert find_identifiers(text) == []


def test_visible_text_skips_images_and_styles():
    html = ('<style>.x{}</style><p>正文</p><img src="data:image/png;base64,QUJDMTM5MTIzNDU2Nzg=">'
            '<script>var a="13912345678"</script>')
    assert visible_text(html).split() == ["正文"]
