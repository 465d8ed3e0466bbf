"""The data contract: every table and column the simulator writes, the validator checks and the
chapters read. One place; `data/README.md` documents the same for people and a test keeps the
two in agreement.

Types: ``id`` int64 identifier, ``int`` integer count, ``float`` real number, ``money`` CNY
(float), ``ts`` timestamp (UTC+8 wall time, no zone), ``date`` calendar date, ``str`` free text,
``cat`` string from a closed list, ``bool``.
"""
from __future__ import annotations

from dataclasses import dataclass

# --- closed lists shared by the simulator, the validator and the chapters -------------------
CITY_TIERS = [1, 2, 3, 4, 5]  # 1 一线 … 5 五线及以下
CITY_TIER_NAMES = {1: "一线", 2: "二线", 3: "三线", 4: "四线", 5: "五线及以下"}
AGE_BANDS = ["<18", "18-24", "25-30", "31-40", "41-50", "50+"]
GENDERS = ["F", "M"]
CHANNELS = ["organic", "ads", "kol", "live", "referral", "group_buy"]
PLATFORMS = ["wechat_moments", "wechat_group", "mini_program", "official_account",
             "douyin", "kuaishou", "weibo", "xiaohongshu"]
MECHANISMS = ["invite_coupon", "group_buy", "bargain", "content", "kol_post", "live"]
CAMPAIGN_TYPES = ["kol", "group_buy", "coupon", "live", "content", "ads"]
KOL_TIERS = ["head", "mid", "tail"]
CATEGORIES = ["apparel", "beauty", "food", "home", "electronics", "mother_baby",
              "health", "sports"]
GROUP_STATUS = ["success", "failed"]
ORDER_STATUS = ["paid", "cancelled", "refunded"]
WAREHOUSES = ["east", "south", "north", "central", "southwest", "northwest", "northeast"]
CARRIERS = ["sf", "zto", "yto", "yunda", "jd", "ems"]
EVENT_TYPES = ["view", "click", "cart", "favorite", "search", "rec_impression", "rec_click"]
EVENT_SOURCES = ["feed", "search", "rec", "share", "live"]
ALGO_VARIANTS = ["popularity", "itemknn", "als", "social"]
VARIANTS = ["control", "treatment"]
TICKET_CATEGORIES = ["logistics", "quality", "refund", "payment", "account", "other"]
TICKET_CHANNELS = ["in_app", "phone", "wechat", "email"]
RETURN_REASONS = ["no_reason_7d", "quality", "wrong_item", "size_fit", "damaged", "other"]
REGIONS = ["east", "south", "north", "central", "southwest", "northwest", "northeast"]
RISK_AREAS = ["fraud", "privacy", "compliance", "platform", "supply", "finance", "reputation"]
RISK_STATUS = ["open", "mitigating", "closed"]
REWARD_KINDS = ["invite_signup", "invite_order"]


@dataclass(frozen=True)
class Column:
    name: str
    type: str                      # id, int, float, money, ts, date, str, cat, bool
    nullable: bool = False
    allowed: tuple | None = None   # closed list for cat (or int codes)
    min: float | None = None       # inclusive bounds for numbers
    max: float | None = None
    fk: str | None = None          # "table.column"
    doc: str = ""
    optional: bool = False         # the column may be absent from a table (added in a later edition)


@dataclass(frozen=True)
class TimeOrder:
    """``later >= earlier`` wherever both are present. ``earlier`` may name another table's
    column as ``table.column``, reached through the foreign key column ``via``."""
    later: str
    earlier: str
    via: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    required: bool = True
    time_order: tuple[TimeOrder, ...] = ()
    simulated: bool = True
    doc: str = ""

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def C(name, type, **kw) -> Column:  # noqa: N802 - short constructor keeps the table below readable
    if "allowed" in kw and kw["allowed"] is not None:
        kw["allowed"] = tuple(kw["allowed"])
    return Column(name, type, **kw)


TABLES: dict[str, Table] = {t.name: t for t in [
    Table("users", (
        C("user_id", "id"),
        C("signup_ts", "ts"),
        C("city_tier", "int", allowed=CITY_TIERS, doc="1 一线 … 5 五线及以下"),
        C("province", "str"),
        C("age_band", "cat", allowed=AGE_BANDS),
        C("gender", "cat", allowed=GENDERS),
        C("acquisition_channel", "cat", allowed=CHANNELS),
        C("referrer_user_id", "id", nullable=True, fk="users.user_id"),
        C("device_hash", "str"),
        C("is_member", "bool"),
        C("member_since", "ts", nullable=True),
    ), key=("user_id",), time_order=(
        TimeOrder("member_since", "signup_ts"),
        TimeOrder("signup_ts", "users.signup_ts", via="referrer_user_id"),
    ),
        doc="One row per registered user."),
    Table("shares", (
        C("share_id", "id"),
        C("user_id", "id", fk="users.user_id"),
        C("share_ts", "ts"),
        C("platform", "cat", allowed=PLATFORMS),
        C("mechanism", "cat", allowed=MECHANISMS),
        C("campaign_id", "id", nullable=True, fk="campaigns.campaign_id"),
        C("item_id", "id", nullable=True, fk="items.item_id"),
    ), key=("share_id",), required=False,
        time_order=(TimeOrder("share_ts", "users.signup_ts", via="user_id"),),
        doc="One row per share (invitation, group-buy link, post) sent by a user."),
    Table("share_visits", (
        C("visit_id", "id"),
        C("share_id", "id", fk="shares.share_id"),
        C("visit_ts", "ts"),
        C("visitor_user_id", "id", nullable=True, fk="users.user_id",
          doc="null until the visitor signs up"),
        C("is_new_user", "bool"),
        C("signup_user_id", "id", nullable=True, fk="users.user_id"),
        C("first_order_id", "id", nullable=True, fk="orders.order_id"),
    ), key=("visit_id",), required=False,
        time_order=(TimeOrder("visit_ts", "shares.share_ts", via="share_id"),),
        doc="One row per visit that came from a share; signup and first order when converted."),
    Table("group_buys", (
        C("group_id", "id"),
        C("leader_user_id", "id", fk="users.user_id"),
        C("item_id", "id", fk="items.item_id"),
        C("created_ts", "ts"),
        C("target_size", "int", min=2, max=5),
        C("status", "cat", allowed=GROUP_STATUS),
        C("closed_ts", "ts"),
    ), key=("group_id",), required=False, time_order=(TimeOrder("closed_ts", "created_ts"),)),
    Table("group_members", (
        C("group_id", "id", fk="group_buys.group_id"),
        C("user_id", "id", fk="users.user_id"),
        C("joined_ts", "ts"),
        C("is_new_user", "bool"),
    ), key=("group_id", "user_id"), required=False,
        time_order=(TimeOrder("joined_ts", "group_buys.created_ts", via="group_id"),)),
    Table("campaigns", (
        C("campaign_id", "id"),
        C("name", "str"),
        C("type", "cat", allowed=CAMPAIGN_TYPES),
        C("platform", "cat", allowed=PLATFORMS),
        C("kol_id", "id", nullable=True, fk="kols.kol_id"),
        C("start_ts", "ts"),
        C("end_ts", "ts"),
        C("cost", "money", min=0),
    ), key=("campaign_id",), required=False, time_order=(TimeOrder("end_ts", "start_ts"),)),
    Table("kols", (
        C("kol_id", "id"),
        C("platform", "cat", allowed=PLATFORMS),
        C("tier", "cat", allowed=KOL_TIERS),
        C("followers", "int", min=0),
        C("category", "cat", allowed=CATEGORIES),
    ), key=("kol_id",), required=False),
    Table("live_sessions", (
        C("live_id", "id"),
        C("kol_id", "id", fk="kols.kol_id"),
        C("platform", "cat", allowed=PLATFORMS),
        C("start_ts", "ts"),
        C("end_ts", "ts"),
        C("viewers", "int", min=0),
        C("peak_viewers", "int", min=0),
    ), key=("live_id",), required=False, time_order=(TimeOrder("end_ts", "start_ts"),)),
    Table("items", (
        C("item_id", "id"),
        C("category", "cat", allowed=CATEGORIES),
        C("brand", "str"),
        C("list_price", "money", min=0),
        C("supplier_id", "id", fk="suppliers.supplier_id"),
    ), key=("item_id",)),
    Table("orders", (
        C("order_id", "id"),
        C("user_id", "id", fk="users.user_id"),
        C("order_ts", "ts"),
        C("gmv", "money", min=0),
        C("discount", "money", min=0),
        C("channel", "cat", allowed=CHANNELS),
        C("campaign_id", "id", nullable=True, fk="campaigns.campaign_id"),
        C("group_id", "id", nullable=True, fk="group_buys.group_id"),
        C("live_id", "id", nullable=True, fk="live_sessions.live_id"),
        C("status", "cat", allowed=ORDER_STATUS),
        C("shipped_ts", "ts", nullable=True),
        C("delivered_ts", "ts", nullable=True),
        C("warehouse_id", "cat", nullable=True, allowed=WAREHOUSES),
        C("carrier", "cat", nullable=True, allowed=CARRIERS),
    ), key=("order_id",), time_order=(
        TimeOrder("shipped_ts", "order_ts"),
        TimeOrder("delivered_ts", "shipped_ts"),
        TimeOrder("order_ts", "users.signup_ts", via="user_id"),
    )),
    Table("order_items", (
        C("order_id", "id", fk="orders.order_id"),
        C("item_id", "id", fk="items.item_id"),
        C("qty", "int", min=1),
        C("unit_price", "money", min=0),
    ), key=("order_id", "item_id")),
    Table("events", (
        C("user_id", "id", fk="users.user_id"),
        C("ts", "ts"),
        C("session_id", "id"),
        C("event_type", "cat", allowed=EVENT_TYPES),
        C("item_id", "id", nullable=True, fk="items.item_id"),
        C("source", "cat", allowed=EVENT_SOURCES),
        C("algo_variant", "cat", nullable=True, allowed=ALGO_VARIANTS),
    ), required=False, doc="Behaviour log; the large table."),
    Table("experiments", (
        C("experiment_id", "id"),
        C("name", "str"),
        C("hypothesis", "str"),
        C("start_ts", "ts"),
        C("end_ts", "ts"),
        C("primary_metric", "str"),
    ), key=("experiment_id",), required=False, time_order=(TimeOrder("end_ts", "start_ts"),)),
    Table("assignments", (
        C("experiment_id", "id", fk="experiments.experiment_id"),
        C("user_id", "id", fk="users.user_id"),
        C("variant", "cat", allowed=VARIANTS),
        C("assigned_ts", "ts"),
    ), key=("experiment_id", "user_id"), required=False,
        time_order=(TimeOrder("assigned_ts", "experiments.start_ts", via="experiment_id"),)),
    Table("reviews", (
        C("review_id", "id"),
        C("order_id", "id", fk="orders.order_id"),
        C("user_id", "id", fk="users.user_id"),
        C("item_id", "id", fk="items.item_id"),
        C("rating", "int", min=1, max=5),
        C("review_ts", "ts"),
        C("has_media", "bool"),
        C("text_len", "int", min=0),
    ), key=("review_id",), required=False,
        time_order=(TimeOrder("review_ts", "orders.order_ts", via="order_id"),)),
    Table("tickets", (
        C("ticket_id", "id"),
        C("user_id", "id", fk="users.user_id"),
        C("order_id", "id", nullable=True, fk="orders.order_id"),
        C("created_ts", "ts"),
        C("first_response_ts", "ts", nullable=True),
        C("resolved_ts", "ts", nullable=True),
        C("category", "cat", allowed=TICKET_CATEGORIES),
        C("channel", "cat", allowed=TICKET_CHANNELS),
        C("csat", "int", nullable=True, min=1, max=5),
        C("agent_id", "id", nullable=True),
    ), key=("ticket_id",), required=False, time_order=(
        TimeOrder("created_ts", "orders.order_ts", via="order_id"),
        TimeOrder("first_response_ts", "created_ts"),
        TimeOrder("resolved_ts", "first_response_ts"),
    )),
    Table("returns", (
        C("return_id", "id"),
        C("order_id", "id", fk="orders.order_id"),
        C("requested_ts", "ts"),
        C("reason", "cat", allowed=RETURN_REASONS),
        C("no_reason_7d", "bool"),
        C("approved", "bool"),
        C("refund_amount", "money", min=0),
    ), key=("return_id",), required=False,
        time_order=(TimeOrder("requested_ts", "orders.order_ts", via="order_id"),)),
    Table("rewards", (
        C("reward_id", "id"),
        C("beneficiary_user_id", "id", fk="users.user_id", doc="who was paid"),
        C("source_user_id", "id", fk="users.user_id", doc="the invited user whose sign-up or order earned it"),
        C("level", "int", min=1, doc="1 = the source's referrer, 2 = the referrer's referrer, …"),
        C("amount", "money", min=0),
        C("reward_ts", "ts"),
        C("kind", "cat", allowed=REWARD_KINDS),
    ), key=("reward_id",), required=False, time_order=(
        TimeOrder("reward_ts", "users.signup_ts", via="source_user_id"),
    ), doc="Referral rewards paid to users (邀请奖励), one row per payment and level."),
    Table("suppliers", (
        C("supplier_id", "id"),
        C("region", "cat", allowed=REGIONS),
        C("category", "cat", allowed=CATEGORIES),
    ), key=("supplier_id",)),
    Table("purchase_orders", (
        C("po_id", "id"),
        C("supplier_id", "id", fk="suppliers.supplier_id"),
        C("item_id", "id", fk="items.item_id"),
        C("ordered_ts", "ts"),
        C("promised_ts", "ts"),
        C("received_ts", "ts", nullable=True),
        C("qty", "int", min=1),
        C("defect_qty", "int", min=0),
    ), key=("po_id",), required=False, time_order=(
        TimeOrder("promised_ts", "ordered_ts"),
        TimeOrder("received_ts", "ordered_ts"),
    )),
    Table("inventory", (
        C("snapshot_date", "date"),
        C("item_id", "id", fk="items.item_id"),
        C("warehouse_id", "cat", allowed=WAREHOUSES),
        C("on_hand", "int", min=0),
        C("on_order", "int", min=0),
    ), key=("snapshot_date", "item_id", "warehouse_id"), required=False),
    Table("risk_register", (
        C("risk_id", "id"),
        C("area", "cat", allowed=RISK_AREAS),
        C("description", "str"),
        C("likelihood", "int", min=1, max=5),
        C("impact", "int", min=1, max=5),
        C("owner", "str"),
        C("mitigation", "str"),
        C("status", "cat", allowed=RISK_STATUS),
        C("likelihood_prev", "int", nullable=True, min=1, max=5, optional=True,
          doc="at the previous edition; null = new risk (optional column)"),
        C("impact_prev", "int", nullable=True, min=1, max=5, optional=True,
          doc="at the previous edition (optional column)"),
        C("status_prev", "cat", nullable=True, allowed=RISK_STATUS, optional=True,
          doc="at the previous edition (optional column)"),
    ), key=("risk_id",), required=False, simulated=False,
        doc="Kept by analysts, not simulated; an example file ships with the package. The optional "
            "`*_prev` columns hold the previous edition's assessment (what changed since then); "
            "a register without them is valid."),
    Table("market", (
        C("year", "int", min=2000, max=2100),
        C("market_size_cny", "money", min=0),
        C("growth", "float", nullable=True),
        C("users", "int", nullable=True, min=0),
        C("source", "str"),
    ), key=("year",), required=False, simulated=False,
        doc="External macro figures with their source; an example file ships with the package."),
]}


def table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"no table {name!r} in the data contract; known: {', '.join(TABLES)}") from None
