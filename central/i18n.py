"""The dashboard's words: Chinese first (the office's language), English on request.

`tr(lang, key)` looks a key up; unknown keys come back as themselves so that a missing word shows
rather than breaks a page. Decisions, reasons, follow-ups and code colours are the contract's codes,
in contract.labels' words, shared with the kiosk.
"""

from __future__ import annotations

from contract.labels import COLOURS, DECISIONS, FOLLOW_UPS, REASONS
from contract.messages import Decision

LANGS = ("zh", "en")

WORDS: dict[str, tuple[str, str]] = {
    # navigation and page titles
    "app": ("卡口指挥中心", "Checkpoint command centre"),
    "feed": ("实时预警", "Live alerts"),
    "cases": ("异常人员处置", "Cases"),
    "case": ("处置单", "Case"),
    "devices": ("设备状态", "Device fleet"),
    "figures": ("每日统计", "Daily figures"),
    "ledger": ("出入登记台账", "Entry-exit ledger"),
    "lists": ("名单与策略", "Lists and policy"),
    "audit": ("审计日志", "Audit log"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "bad_login": ("用户名或密码错误", "Wrong user name or password"),
    "throttled": ("登录失败次数过多，请于 {until} 后再试（约 {minutes} 分钟）",
                  "Too many failed logins: try again after {until} (in about {minutes} min)"),
    "busy": ("同时登录的人太多，请几秒后再试", "Too many logins at once: try again in a few seconds"),
    "password_changed": ("密码已修改，其他会话已退出", "Password changed; other sessions have ended"),
    "language": ("English", "中文"),
    # feed and tables
    "flagged_arrivals": ("异常人员实时预警", "Flagged arrivals, live"),
    "waiting": ("等待新的预警…", "Waiting for alerts…"),
    "connected": ("已连接", "connected"),
    "disconnected": ("连接中断，正在重连…", "disconnected, reconnecting…"),
    "stored": ("已接收记录", "Verdicts stored"),
    "open_cases": ("未结案", "Open cases"),
    "dead_letters": ("拒收消息", "Rejected messages"),
    "time": ("时间", "Time"),
    "site": ("卡口", "Checkpoint"),
    "device": ("设备", "Device"),
    "person": ("人员", "Person"),
    "plate": ("车牌", "Plate"),
    "origin": ("来源地", "Origin"),
    "destination": ("目的地", "Destination"),
    "temperature": ("体温", "Temperature"),
    "code": ("健康码", "Health code"),
    "verdict": ("结论", "Verdict"),
    "reasons": ("原因", "Reasons"),
    "follow_up": ("处置措施", "Follow-up"),
    "seq": ("序号", "Seq"),
    # cases
    "status": ("状态", "Status"),
    "severity": ("级别", "Severity"),
    "opened_at": ("建单时间", "Opened"),
    "first_seen": ("首次发现", "First seen"),
    "first_site": ("首次发现卡口", "First checkpoint"),
    "last_seen": ("最近发现", "Last seen"),
    "assignee": ("负责人", "Assignee"),
    "transfer": ("转运", "Transfer"),
    "transfer_to": ("转运目的地", "Transferred to"),
    "passages": ("通行次数", "Passages"),
    "events": ("处置记录", "History"),
    "note": ("备注", "Note"),
    "add_note": ("添加备注", "Add note"),
    "assign": ("指派", "Assign"),
    "contact": ("标记已联系", "Mark contacted"),
    "close": ("结案", "Close case"),
    "save": ("保存", "Save"),
    "unmask": ("查看完整身份（将记入审计）", "Show identity (audited)"),
    "unmask_why": ("查看原因", "Reason for viewing"),
    "identity": ("身份信息", "Identity"),
    "name": ("姓名", "Name"),
    "id_number": ("身份证号", "ID number"),
    "no_identity": ("该处置单无完整身份信息", "No identity stored for this case"),
    "all": ("全部", "All"),
    "open": ("未结案", "Open"),
    "actor": ("操作人", "By"),
    "action": ("操作", "Action"),
    "new": ("新建", "New"),
    "contacted": ("已联系", "Contacted"),
    "transferred": ("已转运", "Transferred"),
    "closed": ("已结案", "Closed"),
    "opened": ("建单", "Opened"),
    "joined": ("再次发现", "Seen again"),
    "isolation_site": ("集中隔离点", "Isolation site"),
    "fever_clinic": ("发热门诊", "Fever clinic"),
    "home_quarantine": ("居家隔离", "Home quarantine"),
    "export": ("导出", "Export"),
    # devices
    "online": ("在线", "Online"),
    "offline": ("离线", "Offline"),
    "revoked": ("已吊销", "Revoked"),
    "state": ("状态", "State"),
    "last_contact": ("最后联系", "Last contact"),
    "boot": ("启动次数", "Boots"),
    "missing": ("缺失记录", "Missing"),
    "gaps": ("缺失序号", "Missing sequence numbers"),
    "outbox": ("待发送", "Outbox"),
    "health": ("外设状态", "Sensors"),
    "policy": ("策略", "Policy"),
    "policy_rejected": ("策略被拒", "Policy refused"),
    "lost_outbox": ("本机存储丢失，未送达", "Outbox lost, never delivered"),
    "lost_outbox_hint": ("设备重新开始编号；以下记录已无法找回，请核对纸质台账",
                         "the box started numbering again; these were never delivered: check the paper ledger"),
    "twin": ("身份冲突：两台设备使用同一身份", "Identity conflict: two boxes use this identity"),
    "twin_hint": ("后出现的一台已被停止上传（记录保存在其本机），请为其单独配置身份",
                  "the one seen second was told to stop sending (it keeps its records): give it its own identity"),
    "clock_off": ("设备时钟偏差", "Box clock off by"),
    "software": ("软件版本", "Software"),
    "collectors": ("采集节点", "Collector replicas"),
    "handled": ("已处理消息", "Messages handled"),
    "last_commit": ("最近提交", "Last commit"),
    "rejected_by_device": ("设备拒收消息（同类只存一条，其余计数）",
                           "Rejected from registered boxes (one kept per kind, the rest counted)"),
    "count": ("次数", "Count"),
    # one box's page: metrics history and remote diagnostics
    "history_hours": ("近 {hours} 小时", "last {hours} hours"),
    "outbox_depth": ("待发送记录", "Outbox depth"),
    "cpu_percent": ("CPU 占用 %", "CPU use %"),
    "cpu_temp_c": ("芯片温度 °C", "SoC temperature °C"),
    "disk_free_mb": ("剩余磁盘 MB", "Disk free MB"),
    "no_metrics": ("这段时间设备未上报", "nothing reported in this time"),
    "diagnostics": ("远程诊断", "Remote diagnostics"),
    "diagnostics_hint": ("向设备请求自检报告和最近的日志（日志中的身份证号已打码）；设备须在线，数秒内应答。",
                         "Ask the box for its self-check and its latest log lines (ID numbers masked); the box "
                         "must be online and answers within seconds."),
    "log_lines": ("日志行数", "Log lines"),
    "ask_diagnostics": ("请求诊断", "Ask for diagnostics"),
    "requested_at": ("请求时间", "Asked"),
    "requested_by": ("请求人", "By"),
    "answered_at": ("应答时间", "Answered"),
    "no_answer": ("等待设备应答…", "waiting for the box…"),
    "no_answer_late": ("设备未应答（离线？）", "no answer (box offline?)"),
    "checks": ("自检", "Self-check"),
    "check": ("检查项", "Check"),
    "logs": ("最近日志", "Latest log lines"),
    "logs_left_out": ("为控制大小省略了更早的 {n} 行", "{n} older lines left out to keep the answer small"),
    "refused_downlinks": ("设备拒绝的下行消息（未签名或伪造）", "Downlinks the box refused (unsigned or forged)"),
    "warn": ("注意", "warn"),
    "fail": ("失败", "fail"),
    # this process's collector (central.writer_state): its states are keyed by their English words
    "writer": ("本节点写入状态", "This collector"),
    "ok": ("正常", "ok"),
    "waiting for the database": ("等待数据库", "waiting for the database"),
    "storage unavailable": ("存储不可用", "storage unavailable"),
    "storage available": ("存储正常", "storage available"),
    "storage not answering": ("存储无响应", "storage not answering"),
    "collector not subscribed": ("未连接消息服务器", "not subscribed at the broker"),
    "connecting to the broker": ("正在连接消息服务器", "connecting to the broker"),
    "subscribed": ("已订阅", "subscribed"),
    "broker connection lost": ("消息服务器连接中断", "broker connection lost"),
    "since": ("起始时间", "Since"),
    "reason": ("原因", "Reason"),
    "backlog": ("待写入消息（未确认）", "Backlog (un-acknowledged)"),
    "last_commit_age": ("距最近提交（秒）", "Seconds since last commit"),
    "storage_unavailable_page": ("数据库暂不可用，页面无法显示；采集节点会保留消息并自动重试。",
                                 "The database is unavailable, so this page cannot be shown; the collector "
                                 "holds the messages and keeps retrying."),
    # figures
    "day": ("日期", "Day"),
    "total": ("通行总数", "Passages"),
    "fever": ("发热", "Fever"),
    "code_yellow": ("黄码", "Yellow code"),
    "code_red": ("红码", "Red code"),
    "watchlist": ("协查名单", "Watch-list"),
    "overridden": ("人工改判", "Overridden"),
    "from": ("从", "From"),
    "to": ("至", "To"),
    "show": ("查询", "Show"),
    "prev": ("上一页", "Previous"),
    "filter": ("筛选", "Filter"),
    "fleet_all": ("全部设备", "All boxes"),
    "fleet_problems": ("有问题的", "With problems"),
    "fleet_online": ("在线", "Online"),
    "fleet_offline": ("离线", "Offline"),
    "fleet_revoked": ("已吊销", "Revoked"),
    "fleet_matching": ("符合条件的设备：", "Boxes matching:"),
    "fleet_problems_first": ("有问题的排在前面", "problems first"),
    "next": ("下一页", "Next"),
    # lists
    "watchlist_upload": ("上传协查名单（CSV，身份证号）", "Upload the watch-list (CSV of ID numbers)"),
    "risk_areas": ("风险地区（行政区划代码，每行一个）", "Risk areas (region codes, one per line)"),
    "policy_upload": ("推送策略（YAML 或 JSON）", "Push a policy (YAML or JSON)"),
    "push": ("推送到全部设备", "Push to every box"),
    "pushed": ("已推送", "Pushed"),
    "history": ("推送记录", "Push history"),
    "version": ("版本", "Version"),
    "entries": ("条目数", "Entries"),
    "rejected_lines": ("无效行", "Rejected lines"),
    # the daily report (日报)
    "report": ("辖区日报", "Daily report"),
    "report_hint": ("各级辖区的数字为其下全部辖区之和；卡口行只有卡口数字。闭环任务按负责单位统计：当日新增、当日闭环、"
                    "当日到期未闭环（超时）、当日豁免。",
                    "An office's figures are the sums of everything below it; a checkpoint's row has only the "
                    "checkpoint figures. Obligations count by the office that owes them: opened, done, gone "
                    "overdue (their deadline fell that day) and waived that day."),
    "area": ("辖区", "Area"),
    "at_checkpoints": ("卡口", "At the checkpoints"),
    "owed_by_offices": ("闭环任务", "Obligations owed"),
    "flagged": ("异常", "Flagged"),
    "other_reasons": ("其他原因", "Other reasons"),
    "transfers": ("转运", "Transfers"),
    "owed_opened": ("新增", "Opened"),
    "owed_done": ("已闭环", "Done"),
    "owed_overdue": ("超时", "Overdue"),
    "owed_waived": ("豁免", "Waived"),
    # pre-registration (报备)
    "registrations": ("报备人员", "Pre-registered"),
    "registrations_upload": ("导入报备名单（CSV 或 XLSX）", "Import pre-registrations (CSV or XLSX)"),
    "registrations_columns": ("列：身份证号、姓名、车牌、始发地（区划代码）、目的地（6/9/12 位区划代码）、"
                              "预计到达日期。有任何一行出错则整份不导入，并逐行列出原因。",
                              "Columns: ID number, name, plate, origin (region code), destination (a 6, 9 or 12-digit "
                              "region code), expected day. If any line is wrong nothing is imported, and each bad "
                              "line is listed with why."),
    "registrations_current": ("当前有效的报备", "Registrations that count now"),
    "import_and_push": ("导入并推送到全部设备", "Import and push to every box"),
    "lines_checked": ("已核对行", "Lines checked"),
    "reading": ("正在读取文件…", "Reading the file…"),
    "pushing": ("正在推送到设备…", "Pushing to the boxes…"),
    "imported": ("已导入并推送", "Imported and pushed"),
    "bad_lines": ("第", "Line"),
    "expected": ("预计到达", "Expected"),
    # jurisdictions
    "regions": ("辖区", "Jurisdictions"),
    "my_area": ("本账号辖区", "Your area"),
    "higher_office": ("上级单位", "a higher office"),
    "regions_upload": ("导入辖区（区划树）", "Load the region tree"),
    "regions_columns": ("CSV 或 XLSX，列：代码、名称、上级代码（空：本账号所在节点）。"
                        "省 2 位、市 4 位、县 6 位、乡镇街道 9 位、村社区 12 位，须以上级代码开头；"
                        "县以下也可用自编代码（字母、数字、-）。有任何一行错误则不导入，并逐行说明。",
                        "CSV or XLSX with the columns code, name, parent (empty: your own node). A province has 2 "
                        "digits, a city 4, a county 6, a township 9, a community 12, each beginning with its "
                        "parent's; below a county, codes of your own (letters, digits, -) too. One bad line and "
                        "nothing is loaded; each bad line says why."),
    "regions_sample": ("下载示例表", "Download the sample table"),
    "import": ("导入", "Load"),
    "regions_imported": ("已导入：新增 {added}，修改 {changed}，未变 {unchanged}",
                         "Loaded: {added} added, {changed} changed, {unchanged} unchanged"),
    "place_site": ("卡口归属", "Where a checkpoint stands"),
    "site_placed": ("卡口归属已修改", "Checkpoint placed"),
    "region_code": ("区划代码", "Code"),
    "region_name": ("名称", "Name"),
    "region_level": ("级别", "Level"),
    "level_root": ("全部", "Whole deployment"),
    "level_province": ("省", "Province"),
    "level_city": ("市", "City"),
    "level_county": ("县（区）", "County"),
    "level_township": ("乡镇（街道）", "Township"),
    "level_community": ("村（社区）", "Community"),
    "level_own": ("自编节点", "Own node"),
    "users": ("用户", "Users"),
    "role": ("角色", "Role"),
    "target": ("对象", "Target"),
    "detail": ("说明", "Detail"),
    "address": ("地址", "Address"),
    "forbidden": ("权限不足", "Not allowed for your role"),
    "not_found": ("未找到", "not found"),
    "bad_parameter": ("参数无效", "Invalid parameter"),
}
# The codes of the contract (decisions, reasons, follow-ups, code colours) in the words the kiosk uses
# too: contract.labels is the one table, so staff and office read the same word for the same thing.
WORDS.update({code.value: words for table in (DECISIONS, REASONS, FOLLOW_UPS, COLOURS)
              for code, words in table.items()})
WORDS["passed"] = DECISIONS[Decision.PASS]  # the daily figures' column of verdicts that passed


def both(key: str, **values: object) -> str:
    """Chinese, then English, in one line: for answers that have no language cookie (the API)."""
    zh, en = WORDS[key]
    return f"{zh.format(**values)} / {en.format(**values)}"


def tr(lang: str, key: object) -> str:
    words = WORDS.get(str(key))
    if words is None:
        return str(key)
    return words[1] if lang == "en" else words[0]
