"""Mapping a company's own exports onto the contract (fission.data.mapping, data.source: mapping).

Every expected number is computed independently with pandas from the fixture files."""
from __future__ import annotations

import codecs
import hashlib
import re
import shutil
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from fission.data import staging as S
from fission.data.contract import TABLES
from fission.data.mapping import MappingError, apply_mapping, detect_encoding, load_mapping
from fission.data.validate import errors, validate
from fission.params import DataParams, Edition, ScaleParams

HERE = Path(__file__).resolve().parent
CN = HERE / "fixtures" / "cn_exports"
OR_SAMPLE = HERE / "fixtures" / "online_retail" / "online_retail_sample.csv"
OR_MAPPING = HERE.parent / "params" / "examples" / "online_retail.mapping.yaml"


def edition(mapping: Path, quarantine: bool = False, name: str = "m") -> Edition:
    data = DataParams(source="mapping", mapping=str(mapping), quarantine=quarantine)
    return Edition.model_construct(edition=name, year=2025, compare_year=2024, seed=0,
                                   chapters=["01_industry_background"], scale=ScaleParams(users=1000), data=data)


def hashes(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(d.rglob("*")) if p.is_file()}


def read(path: Path) -> pd.DataFrame:
    return duckdb.sql(f"SELECT * FROM read_parquet('{path.as_posix()}')").df()


def copy_fixture(name: str, tmp_path: Path) -> Path:
    dst = tmp_path / name
    shutil.copytree(CN / name, dst)
    return dst


def online_retail_mapping(tmp_path: Path) -> Path:
    """The committed example mapping, pointed at the committed sample."""
    text = OR_MAPPING.read_text(encoding="utf-8")
    text, n = re.subn(r"files: \S+", f"files: {OR_SAMPLE.as_posix()}", text, count=1)
    assert n == 1
    p = tmp_path / "online_retail.mapping.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def write_mapping(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# --- encodings ---------------------------------------------------------------------------------------
def test_detect_encoding(tmp_path):
    text = "订单号,金额\nE1,100\n"
    (tmp_path / "u.csv").write_bytes(text.encode("utf-8"))
    (tmp_path / "bom.csv").write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    (tmp_path / "gbk.csv").write_bytes(text.encode("gbk"))
    (tmp_path / "u16.csv").write_bytes(text.encode("utf-16"))
    assert detect_encoding(tmp_path / "u.csv")[0] == "utf-8"
    assert detect_encoding(tmp_path / "bom.csv")[0] == "utf-8-sig"
    enc, how = detect_encoding(tmp_path / "gbk.csv")
    assert enc == "gb18030" and "GBK" in how
    with pytest.raises(MappingError, match="UTF-16"):
        detect_encoding(tmp_path / "u16.csv")


# --- a GBK order-line export: Chinese headers, 分, Beijing time, derivations ---------------------------
def youzan_expected() -> pd.DataFrame:
    df = pd.read_csv(CN / "youzan" / "订单明细.csv", encoding="gbk", dtype={"买家ID": "Int64"})
    df["order_id"] = df["订单号"].str[1:].astype("int64")
    df["amount"] = df["数量"] * df["单价(分)"] / 100
    return df


def test_youzan_order_lines(tmp_path):
    src = copy_fixture("youzan", tmp_path)
    before = hashes(src)
    out = tmp_path / "out"
    rep = apply_mapping(src / "mapping.yaml", out)
    assert hashes(src) == before                     # input files never modified
    assert rep["sources"]["lines"]["files"][0]["encoding"] == "gb18030"
    df = youzan_expected()

    orders = read(out / "orders.parquet").set_index("order_id")
    exp = df.groupby("order_id").agg(gmv=("amount", "sum"), user=("买家ID", "first"), ts=("下单时间", "first"),
                                     status=("订单状态", "first"), channel=("来源渠道", "first"))
    assert len(orders) == len(exp) == df["订单号"].nunique()
    assert orders["gmv"].sort_index().to_numpy() == pytest.approx(exp["gmv"].sort_index().to_numpy())   # 分 → 元
    assert (orders["user_id"].sort_index() == exp["user"].sort_index().astype("int64")).all()
    # Beijing time stays as it is: the contract's clock
    assert (orders["order_ts"].sort_index() == pd.to_datetime(exp["ts"], format="%Y/%m/%d %H:%M:%S").sort_index()).all()
    status = exp["status"].map({"已付款": "paid", "已取消": "cancelled", "已退款": "refunded"})
    assert (orders["status"].sort_index() == status.sort_index()).all()
    assert set(orders["channel"]) <= {"organic", "ads", "kol", "live", "referral", "group_buy"}
    assert (orders.loc[exp.index, "channel"] == exp["channel"].map(
        {"自然流量": "organic", "广告投放": "ads", "达人推广": "kol", "直播间": "live", "好友分享": "referral",
         "拼团": "group_buy"})).all()
    assert (orders["discount"] == 0).all()

    items = read(out / "order_items.parquet")
    lines = df.assign(item=df["商品编码"]).groupby(["order_id", "item"]).agg(qty=("数量", "sum"), amount=("amount", "sum"))
    assert len(items) == len(lines) and items["qty"].sum() == df["数量"].sum()
    assert (items["qty"] * items["unit_price"]).sum() == pytest.approx(df["amount"].sum())

    # users from first purchases: sign-up = first order, province of that order
    users = read(out / "users.parquet").set_index("user_id").sort_index()
    first = df.assign(ts=pd.to_datetime(df["下单时间"], format="%Y/%m/%d %H:%M:%S")).sort_values("ts") \
        .groupby("买家ID").first()
    assert list(users.index) == sorted(first.index.astype("int64"))
    assert (users["signup_ts"].to_numpy() == first["ts"].to_numpy()).all()
    assert (users["province"].to_numpy() == first["收货省份"].to_numpy()).all()
    assert (users["device_hash"] == "unknown-" + users.index.astype(str)).all()
    assert rep["tables"]["users"]["columns"]["filled"]["acquisition_channel"] == "organic"
    # items from lines: category through the value map, list price = highest price sold at
    it = read(out / "items.parquet")
    assert len(it) == df["商品编码"].nunique()
    assert it["list_price"].max() == pytest.approx(df["单价(分)"].max() / 100)
    assert set(it["category"]) <= set(TABLES["items"].column("category").allowed)
    assert len(read(out / "suppliers.parquet")) == 1
    assert not errors(validate(out, list(TABLES)))


def test_bad_rows_strict_then_quarantine(tmp_path):
    src = copy_fixture("youzan", tmp_path)
    m = src / "mapping.yaml"
    m.write_text(m.read_text(encoding="utf-8").replace("订单明细.csv", "订单明细_有问题.csv"), encoding="utf-8")
    before = hashes(src)
    with pytest.raises(MappingError) as e:
        apply_mapping(m, tmp_path / "strict")
    msg = str(e.value)
    for line in ("order_lines.order_ts (from '下单时间'): value not readable as ts in 1 row of source lines, "
                 "e.g. row 4 (下单时间=昨天下午)",
                 "order_lines.user_id (from '买家ID'): required value missing in 1 row",
                 "order_lines.qty (from '数量'): negative quantity on a line not marked as a cancellation in 1 row",
                 "items.category (from '商品类目'): value not in the value map",
                 "orders are staged whole or not at all"):
        assert line in msg
    assert "Traceback" not in msg and "stage with --quarantine" in msg

    rep = apply_mapping(m, tmp_path / "q", quarantine=True)
    rej = read(tmp_path / "q" / "_rejected" / "order_lines.parquet")
    bad = pd.read_csv(src / "订单明细_有问题.csv", encoding="gbk")
    # the four broken lines and every other line of their orders
    broken_orders = bad.loc[[3, 10, 20, 30], "订单号"]
    expect = bad["订单号"].isin(broken_orders)
    assert len(rej) == expect.sum()
    assert rep["tables"]["orders"]["rejected"] == {
        "unreadable:order_ts": 1, "order_incomplete:order_id": int(expect.sum()) - 4, "missing:user_id": 1,
        "negative_qty:qty": 1, "unmapped_value:items.category": 1}
    assert set(rej["rule"]) == {"unreadable", "missing", "negative_qty", "unmapped_value", "order_incomplete"}
    assert "下单时间" in rej.columns   # the source row as read, with the rule it broke
    orders = read(tmp_path / "q" / "orders.parquet")
    assert len(orders) == bad["订单号"].nunique() - broken_orders.nunique()
    assert rep["tables"]["order_items"]["rows_in"] == len(bad)
    assert hashes(src) == before
    assert not errors(validate(tmp_path / "q", list(TABLES)))


# --- separate exports: BOM TSV, JSON lines, GB18030 with ';', Parquet, UTC times, value maps --------
def test_miniprogram_tables(tmp_path):
    src = copy_fixture("miniprogram", tmp_path)
    out = tmp_path / "out"
    rep = apply_mapping(src / "mapping.yaml", out)
    encs = {k: v["files"][0].get("encoding") for k, v in rep["sources"].items()}
    assert encs["users"] == "utf-8-sig" and encs["lines"] == "gb18030" and encs["shares"] == "gb18030"

    u_src = pd.read_csv(src / "用户.tsv", sep="\t", encoding="utf-8-sig")
    users = read(out / "users.parquet")
    assert list(users["user_id"]) == list(u_src["用户ID"])   # the BOM did not eat the first column
    utc = pd.to_datetime(u_src["注册时间UTC"])
    assert (users["signup_ts"] == utc + pd.Timedelta(hours=8)).all()   # UTC → UTC+8 wall time
    assert (users["gender"] == u_src["性别"].map({"男": "M", "女": "F"})).all()
    assert (users["city_tier"] == u_src["城市等级"].map({"一线": 1, "二线": 2, "三线": 3, "四线": 4, "五线及以下": 5})).all()
    assert (users["is_member"] == (u_src["是否会员"] == "是")).all()
    assert users["referrer_user_id"].isna().sum() == u_src["邀请人ID"].isna().sum()

    o_src = pd.read_json(src / "订单.jsonl", lines=True)
    orders = read(out / "orders.parquet")
    assert orders["gmv"].sum() == pytest.approx(o_src["pay_fen"].sum() / 100)
    assert orders["discount"].sum() == pytest.approx(o_src["discount_fen"].sum() / 100)
    exp_ts = pd.to_datetime(o_src["created_at"]).dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    assert (orders["order_ts"].to_numpy() == exp_ts.to_numpy()).all()
    assert (orders["status"] == "cancelled").sum() == (o_src["status"] == "已取消").sum()

    l_src = pd.read_csv(src / "订单明细.csv", sep=";", encoding="gb18030")
    oi = read(out / "order_items.parquet")
    assert (oi["qty"] * oi["unit_price"]).sum() == pytest.approx((l_src["数量"] * l_src["成交单价分"]).sum() / 100)

    s_src = pd.read_csv(src / "分享记录.csv", encoding="gbk")
    shares = read(out / "shares.parquet")
    kept = s_src[s_src["分享渠道"] != "小程序"]
    assert rep["sources"]["shares"]["rows_filtered_out"] == (s_src["分享渠道"] == "小程序").sum() > 0
    assert len(shares) == len(kept)
    want = kept["分享渠道"].map({"微信": "wechat_moments", "朋友圈": "wechat_moments", "微信群": "wechat_group",
                                 "公众号": "official_account", "抖音": "douyin", "快手": "kuaishou", "微博": "weibo",
                                 "小红书": "xiaohongshu"})
    assert list(shares["platform"]) == list(want)
    assert read(out / "items.parquet")["list_price"].sum() == pytest.approx(
        pd.read_parquet(src / "商品.parquet")["标价分"].sum() / 100)
    assert not errors(validate(out, list(TABLES)))


# --- a bad mapping: one line saying what and where ------------------------------------------------------
BASE = """
sources:
  lines: {files: lines.csv}
order_lines:
  source: lines
  order_id: o
  user_id: u
  order_ts: t
  item_id: i
  qty: q
  unit_price: p
  orders: {fill: {discount: 0, channel: organic}}
derive:
  users: {fill: {city_tier: 1, province: x, age_band: 18-24, gender: F, acquisition_channel: organic,
                 device_hash: x, is_member: false}}
  items: {fill: {category: food, brand: x, supplier_id: 1}}
  suppliers: {fill: {region: east, category: food}}
"""
LINES = "o,u,t,i,q,p\n1,10,2025-01-01 10:00:00,7,2,5.5\n1,10,2025-01-01 10:00:00,8,1,3\n2,11,2025-01-02 09:00:00,7,1,5.5\n"


@pytest.mark.parametrize("change, expected", [
    (("orders: {fill:", "orderz: {fill:"), r"m\.yaml: order_lines\.orderz: unknown key"),
    (("derive:", "tables:\n  ordrs: {source: lines}\nderive:"), r"m\.yaml: tables\.ordrs: no table 'ordrs' in the data contract"),
    (("channel: organic}", "channel: organic, colour: red}"), r"order_lines\.orders\.fill\.colour: orders has no column 'colour'"),
    (("lines.csv", "nope/*.csv"), r"m\.yaml: sources\.lines\.files: no file matches 'nope/\*\.csv' \(looked in "),
    (("  qty: q", "  qty: [q"), r"m\.yaml is not valid YAML: .* at line \d+, column \d+"),
    (("  qty: q", "  qty: quantity"), r"order_lines\.qty \('quantity'\) does not work: .*quantity"),
    (("device_hash: x, ", ""), r"users\.device_hash is required by the contract but neither mapped nor filled"),
    (("  suppliers: {fill: {region: east, category: food}}\n", ""), r"required contract tables not made: suppliers"),
])
def test_bad_mapping_one_line(tmp_path, change, expected):
    (tmp_path / "lines.csv").write_text(LINES)
    m = write_mapping(tmp_path, BASE.replace(*change))
    with pytest.raises(MappingError) as e:
        apply_mapping(m, tmp_path / "out")
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and re.search(expected, msg), msg


def test_missing_mapping_file_and_excel(tmp_path):
    with pytest.raises(MappingError, match="mapping file .* does not exist"):
        load_mapping(tmp_path / "none.yaml")
    (tmp_path / "lines.xlsx").write_bytes(b"PK\x03\x04")   # a zip header, not a workbook
    m = write_mapping(tmp_path, BASE.replace("lines.csv", "lines.xlsx"))
    with pytest.raises(MappingError, match=r"sources\.lines: lines\.xlsx is not a workbook fastexcel can read"):
        apply_mapping(m, tmp_path / "out")


# --- Excel: the youzan export downloaded as .xlsx (second sheet, title row, typed cells) --------------
@pytest.mark.parametrize("ext", ["xlsx", "xls"])
def test_youzan_excel_stages_what_the_csv_stages(tmp_path, ext):
    src = copy_fixture("youzan_xlsx", tmp_path)
    m = src / "mapping.yaml"
    m.write_text(m.read_text(encoding="utf-8").replace("订单明细.xlsx", f"订单明细.{ext}"), encoding="utf-8")
    before = hashes(src)
    rep = apply_mapping(src / "mapping.yaml", tmp_path / "xlsx")
    assert hashes(src) == before                     # the workbook is only read
    f = rep["sources"]["lines"]["files"][0]
    assert (rep["sources"]["lines"]["format"], f["sheet"], f["header_row"], f["rows"]) == ("excel", "订单明细", 2, 218)
    apply_mapping(CN / "youzan" / "mapping.yaml", tmp_path / "csv")
    for t in ("orders", "order_items", "users", "items", "suppliers"):
        a, b = read(tmp_path / "xlsx" / f"{t}.parquet"), read(tmp_path / "csv" / f"{t}.parquet")
        pd.testing.assert_frame_equal(a, b, obj=t)
    # and the CSV path's numbers are checked against pandas in test_youzan_order_lines; once more here
    orders = read(tmp_path / "xlsx" / "orders.parquet")
    assert float(orders["gmv"].sum()) == pytest.approx(youzan_expected()["amount"].sum())
    assert not errors(validate(tmp_path / "xlsx", list(TABLES)))


@pytest.mark.parametrize("change, expected", [
    (("sheet: 订单明细", "sheet: 订单"),
     r"sources\.lines\.sheet: 订单明细\.xlsx has no sheet '订单'; its sheets: '导出说明', '订单明细'"),
    (("sheet: 订单明细", "sheet: 5"), r"has no sheet 5; its sheets: '导出说明', '订单明细' \(give a name, or a position"),
    (("sheet: 订单明细", "sheet: 0"),          # the notes sheet: one line, no row 2
     r"sources\.lines: sheet '导出说明' of 订单明细\.xlsx has nothing from row 2 on; check sheet and header_row"),
    (("header_row: 2", "header_row: 1"),      # the title taken as the header
     r"sources\.lines\.rename: no column '单价\(分\)' in the source; its columns: 订单明细导出 2025-01-01"),
])
def test_excel_sheet_and_header_row_errors(tmp_path, change, expected):
    src = copy_fixture("youzan_xlsx", tmp_path)
    m = src / "mapping.yaml"
    m.write_text(m.read_text(encoding="utf-8").replace(*change), encoding="utf-8")
    with pytest.raises(MappingError, match=expected):
        apply_mapping(m, tmp_path / "out")
    assert not (tmp_path / "out" / "orders.parquet").exists()


def test_excel_sheet_by_position_and_without_header(tmp_path):
    src = copy_fixture("youzan_xlsx", tmp_path)
    m = src / "mapping.yaml"
    m.write_text(m.read_text(encoding="utf-8").replace("sheet: 订单明细", "sheet: 1"), encoding="utf-8")
    assert len(read(Path(apply_mapping(m, tmp_path / "out") and tmp_path / "out" / "order_items.parquet"))) == 218
    # header: false — the columns are named as read_csv names them, the header row is data
    (tmp_path / "lines.xlsx").write_bytes((src / "订单明细.xlsx").read_bytes())
    text = BASE.replace("lines: {files: lines.csv}",
                        "lines: {files: lines.xlsx, sheet: 1, header: false, header_row: 3}")
    for a, b in zip("outiqp", ["column0", "column1", "column2", "column3", "column5", "column6"]):
        text = text.replace(f": {a}\n", f": {b}\n")
    text = text.replace("order_id: column0", "order_id: regexp_extract(column0, '[0-9]+$')") \
        .replace("item_id: column3", "item_id: text_id(column3)")
    rep = apply_mapping(write_mapping(tmp_path, text), tmp_path / "out2")
    assert rep["sources"]["lines"]["files"][0]["rows"] == 218 and rep["sources"]["lines"]["files"][0]["header_row"] is None
    a, b = read(tmp_path / "out" / "orders.parquet"), read(tmp_path / "out2" / "orders.parquet")
    assert 100 * float(a["gmv"].sum()) == pytest.approx(float(b["gmv"].sum()))   # 分, read here as 元


def test_sheet_option_on_a_csv_source(tmp_path):
    (tmp_path / "lines.csv").write_text(LINES, encoding="utf-8")
    m = write_mapping(tmp_path, BASE.replace("lines: {files: lines.csv}", "lines: {files: lines.csv, sheet: 0}"))
    with pytest.raises(MappingError, match=r"sources\.lines: sheet and header_row are for Excel files; this source is csv"):
        apply_mapping(m, tmp_path / "out")


def test_hand_made_lines_utf8(tmp_path):
    """UTF-8, a filter, cancellations by sign, an order whose lines disagree on the user."""
    (tmp_path / "lines.csv").write_text(
        LINES + "3,12,2025-01-03 09:00:00,7,-1,5.5\n4,13,2025-01-04 09:00:00,7,1,2\n4,14,2025-01-04 09:00:00,8,1,2\n"
        "5,15,2025-01-05 09:00:00,9,1,1\n", encoding="utf-8")
    text = BASE.replace("  unit_price: p\n", "  unit_price: p\n  cancelled: CAST(q AS INT) < 0\n") \
               .replace("lines: {files: lines.csv}", "lines: {files: lines.csv, filter: \"i <> '9'\"}")
    rep = apply_mapping(write_mapping(tmp_path, text), tmp_path / "out", quarantine=True)
    orders = read(tmp_path / "out" / "orders.parquet").set_index("order_id")
    assert rep["sources"]["lines"]["rows_filtered_out"] == 1            # order 5: filtered, counted
    assert list(orders.index) == [1, 2, 3]                              # order 4 set aside
    assert orders.loc[1, "gmv"] == pytest.approx(2 * 5.5 + 3) and orders.loc[3, "status"] == "cancelled"
    assert orders.loc[3, "gmv"] == pytest.approx(5.5)                  # a cancellation's amount is positive
    assert rep["tables"]["orders"]["rejected"] == {"order_conflict:user_id": 2}
    rej = read(tmp_path / "out" / "_rejected" / "order_lines.parquet")
    assert list(rej["o"]) == ["4", "4"] and set(rej["rule"]) == {"order_conflict"}


# --- staging: data.source mapping ------------------------------------------------------------------------
def test_stage_mapping_source(tmp_path):
    src = copy_fixture("youzan", tmp_path)
    before = hashes(src)
    ed = edition(src / "mapping.yaml")
    root = tmp_path / "staged"
    m = S.stage(ed, root=root)
    assert m["source"] == str((src / "mapping.yaml").resolve()) and m["currency"] == "CNY"
    assert m["mapping"]["tables"]["orders"]["rows_written"] == m["tables"]["orders"]["rows"] == 120
    assert m["inputs"]["files"][0]["path"].endswith("订单明细.csv") and m["inputs"]["mapping_sha256"]
    assert S.stage(ed, root=root) == m                                   # unchanged → reused
    assert S.stage(ed, root=tmp_path / "again")["fingerprint"] == m["fingerprint"]   # deterministic
    # a changed mapping re-stages
    mp = src / "mapping.yaml"
    mp.write_text(mp.read_text(encoding="utf-8").replace("discount: 0", "discount: 1"), encoding="utf-8")
    m2 = S.stage(ed, root=root)
    assert m2["inputs"] != m["inputs"] and read(root / "m" / "orders.parquet")["discount"].eq(1).all()
    # a touched source file re-stages
    time.sleep(0.01)
    (src / "订单明细.csv").touch()
    m3 = S.stage(ed, root=root)
    assert m3["inputs"]["files"] != m2["inputs"]["files"]
    assert {k: v for k, v in hashes(src).items() if k not in ("mapping.yaml", "订单明细.csv")} == \
        {k: v for k, v in before.items() if k not in ("mapping.yaml", "订单明细.csv")}
    assert hashlib.sha256((src / "订单明细.csv").read_bytes()).hexdigest() == before["订单明细.csv"][0]


def test_stage_mapping_strict_keeps_previous_data(tmp_path):
    src = copy_fixture("youzan", tmp_path)
    root = tmp_path / "staged"
    good = S.stage(edition(src / "mapping.yaml"), root=root)
    mp = src / "mapping.yaml"
    mp.write_text(mp.read_text(encoding="utf-8").replace("订单明细.csv", "订单明细_有问题.csv"), encoding="utf-8")
    with pytest.raises(S.StagingError, match="5 mapping rules broken"):
        S.stage(edition(mp), root=root)
    assert S.read_manifest(root / "m")["fingerprint"] == good["fingerprint"]
    m = S.stage(edition(mp, quarantine=True), root=root)
    assert m["mapping"]["quarantine"] is True and m["mapping"]["rejected_files"] == ["_rejected/order_lines.parquet"]
    assert (root / "m" / "_rejected" / "order_lines.parquet").is_file() and "_rejected" not in m["tables"]


def test_cli_data_quarantine_flag(tmp_path):
    from fission import cli
    src = copy_fixture("youzan", tmp_path)
    mp = src / "mapping.yaml"
    mp.write_text(mp.read_text(encoding="utf-8").replace("订单明细.csv", "订单明细_有问题.csv"), encoding="utf-8")
    args = type("A", (), {"params": "params/default.yaml", "set": ["data.source=mapping", f"data.mapping={mp}"],
                          "quarantine": True})()
    assert cli._edition(args).data.quarantine is True
    args.quarantine = False
    assert cli._edition(args).data.quarantine is False


# --- the real dataset: UCI Online Retail (sample) ----------------------------------------------------------
def test_online_retail_sample_agrees_with_pandas(tmp_path):
    before = hashlib.sha256(OR_SAMPLE.read_bytes()).hexdigest()
    m = online_retail_mapping(tmp_path)
    with pytest.raises(MappingError, match=r"order_lines\.user_id \(from 'float_id\(CustomerID\)'\): required value "
                                           r"missing in 347 rows"):
        apply_mapping(m, tmp_path / "strict")
    rep = apply_mapping(m, tmp_path / "out", quarantine=True)
    out = tmp_path / "out"

    d = pd.read_csv(OR_SAMPLE, dtype={"InvoiceNo": str, "StockCode": str})
    cust = d[d["CustomerID"].notna()]
    cancel = cust["InvoiceNo"].str.startswith("C")
    orders = read(out / "orders.parquet")
    assert len(orders) == cust["InvoiceNo"].nunique()
    assert (orders["status"] == "cancelled").sum() == cust.loc[cancel, "InvoiceNo"].nunique() > 0
    paid = cust[~cancel]
    assert orders.loc[orders["status"] == "paid", "gmv"].sum() == pytest.approx((paid["Quantity"] * paid["UnitPrice"]).sum())
    canc = cust[cancel]
    assert orders.loc[orders["status"] == "cancelled", "gmv"].sum() == pytest.approx(
        -(canc["Quantity"] * canc["UnitPrice"]).sum())
    users = read(out / "users.parquet")
    assert len(users) == cust["CustomerID"].nunique() and set(users["user_id"]) == set(cust["CustomerID"].astype(int))
    first = pd.to_datetime(cust.groupby("CustomerID")["InvoiceDate"].min())
    exp_signup = first.dt.tz_localize("Europe/London").dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    got = users.set_index("user_id")["signup_ts"].sort_index()
    assert (got.to_numpy() == exp_signup.sort_index().to_numpy()).all()   # London → UTC+8 (GMT and BST)
    items = read(out / "items.parquet")
    assert len(items) == cust["StockCode"].nunique()
    oi = read(out / "order_items.parquet")
    assert oi["qty"].sum() == cust["Quantity"].abs().sum()
    assert len(oi) == cust.groupby(["InvoiceNo", "StockCode"]).ngroups
    # guests set aside, counted, nothing else lost
    rej = read(out / "_rejected" / "order_lines.parquet")
    assert len(rej) == d["CustomerID"].isna().sum() == rep["tables"]["orders"]["rejected"]["missing:user_id"]
    assert rep["tables"]["orders"]["rows_in"] == len(d) == len(rej) + len(cust)
    assert rep["currency"] == "GBP" and rep["timezone"] == "Europe/London"
    assert not errors(validate(out, list(TABLES)))
    assert hashlib.sha256(OR_SAMPLE.read_bytes()).hexdigest() == before


SHARED = HERE.parent.parent / "shared" / "realdata" / "online_retail" / "online_retail.csv.gz"


@pytest.mark.skipif(not SHARED.is_file(), reason="the shared Online Retail file is not on this machine")
def test_online_retail_example_edition_loads():
    from fission.params import load
    ed = load("params/examples/online_retail.yaml")
    assert ed.data.source == "mapping" and ed.data.quarantine
    lm = load_mapping(S.mapping_path(ed))
    assert lm.spec.currency == "GBP"
    assert [f.resolve() for f in lm.files["lines"]] == [SHARED.resolve()]


def test_direct_table_value_map_miss_strict_and_quarantine(tmp_path):
    """A users export with values its maps do not know: one line per rule; set aside, the users'
    orders then dangle and the (strict) contract validation says so."""
    src = copy_fixture("miniprogram", tmp_path)
    u = pd.read_csv(src / "用户.tsv", sep="\t", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    u.loc[2, "城市等级"] = "六线"
    u.loc[5, "性别"] = "未知"
    u.to_csv(src / "用户.tsv", sep="\t", index=False, encoding="utf-8-sig")
    with pytest.raises(MappingError) as e:
        apply_mapping(src / "mapping.yaml", tmp_path / "strict")
    msg = str(e.value)
    assert "users.city_tier (from '城市等级'): value not in the value map nor the closed list [1, 2, 3, 4, 5] " \
           "in 1 row of source users, e.g. row 3 (城市等级=六线)" in msg
    assert "users.gender (from '性别'): value not in the value map nor the closed list [F, M] in 1 row" in msg
    rep = apply_mapping(src / "mapping.yaml", tmp_path / "q", quarantine=True)
    assert rep["tables"]["users"]["rejected"] == {"unmapped_value:city_tier": 1, "unmapped_value:gender": 1}
    rej = read(tmp_path / "q" / "_rejected" / "users.parquet")
    assert list(rej["用户ID"].astype(int)) == [3, 6] and list(rej["rule"]) == ["unmapped_value"] * 2
    assert len(read(tmp_path / "q" / "users.parquet")) == len(u) - 2
    with pytest.raises(S.StagingError, match=r"(orders|shares|users)\.(user_id|referrer_user_id): foreign key"):
        S.stage(edition(src / "mapping.yaml", quarantine=True), root=tmp_path / "staged")


def test_inspect_shows_what_online_retail_can_build(tmp_path, capsys):
    """`fission inspect <mapping>`: placeholders are not data, so sections that need the
    users' demographics, shares or events are listed with what they lack."""
    from fission import cli
    assert cli.main(["inspect", str(online_retail_mapping(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "01_industry_background  (1/4 sections)" in out
    assert "users                  missing users.city_tier, users.age_band" in out
    assert "kpi                    built" in out and "offline                missing events" in out
    assert "fraud                  missing users.device_hash" in out


def test_inspect_of_the_default_data_builds_everything(capsys, default_platform):
    from fission import cli
    assert cli.main(["inspect", str(default_platform[0])]) == 0
    out = capsys.readouterr().out
    assert "missing" not in out and "10_conclusions  (3/3 sections)" in out


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_data_notes_are_in_the_books_language(tmp_path, lang):
    """The mapping's derivations are recorded by key and worded by the book; its own notes are
    given in the book's language when the mapping has them per language."""
    from fission import cover
    from fission.words import Words
    rep = apply_mapping(online_retail_mapping(tmp_path), tmp_path / "out", quarantine=True)
    assert {d["key"] for d in rep["tables"]["orders"]["derivations"]} == {
        "orders_from_lines", "gmv_from_lines", "cancellation_lines"}
    notes = cover.data_notes({"mapping": rep}, Words(None, lang))
    text = "\n".join(notes)
    n_derived = sum(len(r["derivations"]) for r in rep["tables"].values())
    assert n_derived == 7 and len(notes) == 3 + 1 + n_derived + 2 + 1   # notes, currency, rejected, filled
    han = [n for n in notes if re.search(r"[\u4e00-\u9fff]", n)]
    if lang == "zh":
        assert han == notes                       # every note worded in Chinese
        assert "orders：由订单明细汇总" in text and "由首笔订单" not in text
        assert "金额为英镑" in text and "GBP" in text
    else:
        assert han == [] and "orders: one row per order_id of the order lines" in text
        assert "amounts in GBP" in text
    # a plain list of notes is given as written, whatever the language
    assert cover.data_notes({"mapping": {"notes": ["as written"]}}, Words(None, lang)) == ["as written"]
