"""Chinese display names for the contract's closed lists (one place for every chapter)."""
from ..data.contract import CITY_TIER_NAMES

CHANNEL = {"organic": "自然流量", "ads": "广告投放", "kol": "KOL 达人", "live": "直播",
           "referral": "好友邀请", "group_buy": "拼团"}
MECHANISM = {"invite_coupon": "邀请得券", "group_buy": "拼团", "bargain": "砍价",
             "content": "内容种草", "kol_post": "KOL 推广", "live": "直播分享"}
PLATFORM = {"wechat_moments": "微信朋友圈", "wechat_group": "微信群", "mini_program": "小程序",
            "official_account": "公众号", "douyin": "抖音", "kuaishou": "快手", "weibo": "微博",
            "xiaohongshu": "小红书"}
CATEGORY = {"apparel": "服饰", "beauty": "美妆", "food": "食品", "home": "家居",
            "electronics": "数码", "mother_baby": "母婴", "health": "健康", "sports": "运动"}
GENDER = {"F": "女", "M": "男"}


def pct(x: float, digits: int = 1) -> str:
    """0.1234 → '12.3%'."""
    return f"{x * 100:.{digits}f}%"


def signed_pct(x: float, digits: int = 1) -> str:
    """0.1234 → '+12.3%'."""
    return f"{x * 100:+.{digits}f}%"


def yuan(x: float) -> str:
    """Money in the units a Chinese reader expects: 元, 万元, 亿元."""
    if abs(x) >= 1e12:
        return f"{x / 1e12:,.2f} 万亿元"
    if abs(x) >= 1e8:
        return f"{x / 1e8:,.2f} 亿元"
    if abs(x) >= 1e4:
        return f"{x / 1e4:,.1f} 万元"
    return f"{x:,.1f} 元"


def count(x: float) -> str:
    """A head count: 12,345 or 1.2 万 / 亿."""
    if abs(x) >= 1e8:
        return f"{x / 1e8:,.2f} 亿"
    if abs(x) >= 1e5:
        return f"{x / 1e4:,.1f} 万"
    return f"{x:,.0f}"


def trend(x: float) -> str:
    """'增长' or '下降' for a change."""
    return "增长" if x >= 0 else "下降"

CAMPAIGN_TYPE = {"kol": "KOL 合作", "ads": "信息流广告", "coupon": "邀请有礼券",
                 "group_buy": "拼团补贴", "content": "内容种草", "live": "直播"}
KOL_TIER = {"head": "头部", "mid": "腰部", "tail": "尾部"}
# city_tier arrives as an int from the tables and as a string from model covariates
CITY_TIER = {**CITY_TIER_NAMES, **{str(k): v for k, v in CITY_TIER_NAMES.items()}}
