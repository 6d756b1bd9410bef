"""Words for the contract's codes, Chinese first, shared by the kiosk and the dashboard."""

from __future__ import annotations

from contract.messages import CodeColour, ColourSource, Decision, FollowUp, Reason

DECISIONS: dict[Decision, tuple[str, str]] = {
    Decision.PASS: ("通行", "Pass"),
    Decision.REVIEW: ("人工核验", "Review"),
    Decision.DENY: ("禁止通行", "Deny"),
}

REASONS: dict[Reason, tuple[str, str]] = {
    Reason.CODE_GREEN: ("绿码", "Green code"),
    Reason.CODE_YELLOW: ("黄码", "Yellow code"),
    Reason.CODE_RED: ("红码", "Red code"),
    Reason.CODE_UNREADABLE: ("健康码无法核验", "Code cannot be verified"),
    Reason.CODE_EXPIRED: ("健康码已过期", "Code expired"),
    Reason.CODE_FORGED: ("健康码签名无效（疑似伪造）", "Code signature invalid (possibly forged)"),
    Reason.CODE_COLOUR_ONLY: ("仅凭屏幕颜色判断", "Colour read from the screen only"),
    Reason.TEMP_NORMAL: ("体温正常", "Temperature normal"),
    Reason.FEVER_FIRST_READING: ("体温偏高，需复测", "High first reading, re-measure"),
    Reason.FEVER_CONFIRMED: ("复测确认发热", "Fever confirmed on re-measure"),
    Reason.TEMP_INVALID: ("体温读数无效", "Temperature reading invalid"),
    Reason.MISSING_ID: ("缺少身份证件", "No ID card"),
    Reason.MISSING_CODE: ("缺少健康码", "No health code"),
    Reason.MISSING_TEMP: ("缺少体温", "No temperature"),
    Reason.CARD_EXPIRED: ("证件已过期", "ID card expired"),
    Reason.WATCHLIST: ("协查名单人员", "On the watch-list"),
    Reason.RISK_AREA_ORIGIN: ("来自风险地区", "Coming from a risk area"),
    Reason.OUT_OF_PROVINCE: ("省外人员", "From outside the province"),
    Reason.PRE_REGISTERED: ("已报备", "Registered in advance"),
    Reason.STAFF_OVERRIDE: ("工作人员改判", "Staff override"),
}

FOLLOW_UPS: dict[FollowUp, tuple[str, str]] = {
    FollowUp.TURN_BACK: ("劝返", "Turn the vehicle back"),
    FollowUp.TEST_ON_ARRIVAL: ("落地检（核酸检测）", "Test on arrival"),
    FollowUp.ISOLATION_TRANSFER: ("点对点转运至隔离点", "Transfer point-to-point to isolation"),
    FollowUp.FEVER_CLINIC: ("转运至发热门诊", "Transfer to a fever clinic"),
    FollowUp.REGISTER_DESTINATION: ("向目的地社区报备", "Register with the destination community"),
    FollowUp.NOTIFY_COMMAND: ("立即报告指挥部", "Tell the command centre now"),
    FollowUp.STAFF_VERIFY: ("工作人员人工核验", "Staff verify in person"),
}

COLOURS: dict[CodeColour, tuple[str, str]] = {
    CodeColour.GREEN: ("绿码", "Green"),
    CodeColour.YELLOW: ("黄码", "Yellow"),
    CodeColour.RED: ("红码", "Red"),
    CodeColour.GREY: ("灰码", "Grey"),
    CodeColour.UNKNOWN: ("未知", "Unknown"),
}

SOURCES: dict[ColourSource, tuple[str, str]] = {
    ColourSource.SIGNED_PAYLOAD: ("签名核验", "Signed code"),
    ColourSource.ONLINE_LOOKUP: ("在线核验", "Online check"),
    ColourSource.SCREEN_COLOUR: ("屏幕颜色", "Screen colour"),
    ColourSource.STAFF: ("人工", "Staff"),
    ColourSource.NONE: ("无", "None"),
}


def words(table: dict, key: object) -> dict[str, str]:  # type: ignore[type-arg]
    zh, en = table[key]
    return {"zh": zh, "en": en}
