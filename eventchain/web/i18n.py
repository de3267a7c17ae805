"""The workspace's words: Chinese first, English available (``?lang=en``)."""

from __future__ import annotations

from typing import Final

from eventchain.web.follow_up_words import WORDS as FOLLOW_UP_WORDS

LANGUAGES: Final = ("zh", "en")
WORDS: Final[dict[str, tuple[str, str]]] = {
    "app": ("客户事件链工作台", "eventchain workspace"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "agent_id": ("工号", "Agent id"),
    "password": ("密码", "Password"),
    "confirm": ("确认密码", "Confirm password"),
    "set_password": ("设置密码", "Set your password"),
    "password_rule": ("需 10 到 256 个字符", "must be 10 to 256 characters long"),
    "passwords_differ": ("两次输入不一致", "the two passwords differ"),
    "password_set": ("密码已设置，请登录", "Your password is set: sign in"),
    "link_invalid": (
        "链接无效（已使用、已更换或已过期），请联系管理员重新发送",
        "This link is not valid (used, replaced or expired): ask for a new one",
    ),
    "wrong_credentials": ("工号或密码错误", "Wrong agent id or password"),
    "too_many": ("尝试次数过多，请 15 分钟后再试", "Too many attempts: try again in 15 minutes"),
    "expired": ("会话已过期，请重新登录", "Your session expired: sign in again"),
    "my_desk": ("我的工作台", "My desk"),
    "board": ("主管看板", "Director's board"),
    "exec_board": ("管理层看板", "Executive board"),
    "customers": ("客户", "Customers"),
    "as_of": ("数据截至", "Data as of"),
    "published": ("快照发布于", "Snapshot published"),
    "waiting": ("待首次响应", "Waiting for a first reply"),
    "deadline": ("截止", "Deadline"),
    "left": ("剩余", "left"),
    "overdue": ("已超时", "overdue"),
    "no_follow_up": ("未跟进客户", "No follow-up"),
    "days": ("天", "days"),
    "channel": ("渠道", "Channel"),
    "name": ("姓名", "Name"),
    "company": ("公司", "Company"),
    "owner": ("负责人", "Owner"),
    "stage": ("阶段", "Stage"),
    "last_follow_up": ("最后跟进", "Last follow-up"),
    "last_touch": ("最近触点", "Last touch"),
    "log_call": ("记录电话", "Log call"),
    "log_reply": ("记录回复", "Log reply"),
    "log_visit": ("记录拜访", "Log visit"),
    "note": ("备注", "Note"),
    "move_stage": ("推进阶段", "Move stage"),
    "evidence": ("依据触点", "Evidence"),
    "reason": ("原因", "Reason"),
    "timeline": ("客户 360 时间线", "Customer 360 timeline"),
    "recorded": ("已记录，看板将在快照更新后刷新", "Recorded: the board refreshes when the snapshot moves"),
    "per_rep": ("销售明细", "Per rep"),
    "load": ("负载/容量", "Load / capacity"),
    "leads": ("线索", "Leads"),
    "responded": ("已响应", "Answered"),
    "mean_hours": ("平均响应(小时)", "Mean response (h)"),
    "breaches": ("超时", "SLA breaches"),
    "escalations": ("升级给我的", "Escalated to me"),
    "funnel": ("漏斗与阶段转化", "Funnel and stage conversion"),
    "by_channel": ("按渠道", "By channel"),
    "by_city": ("按城市", "By city"),
    "ctre": ("CTRE 与均衡指数", "CTRE and balance"),
    "trend": ("周趋势", "Weekly trend"),
    "heatmap": ("响应热力图（线索数）", "Response heatmap (leads)"),
    "pipeline": ("管道价值（预算 ¥）", "Pipeline value (budget ¥)"),
    "silent": ("沉默客户", "Silent customers"),
    "data_health": ("数据健康", "Data health"),
    "period": ("期间", "Period"),
    "from": ("从", "From"),
    "to": ("到", "To"),
    "apply": ("应用", "Apply"),
    "none": ("无", "none"),
    "not_found": ("未找到", "Not found"),
    "forbidden": ("请求被拒绝（缺少 CSRF 令牌）", "Request refused (missing CSRF token)"),
    "language": ("English", "中文"),
    "vip": ("VIP", "VIP"),
    "step": ("级别", "Step"),
    "week": ("周", "Week"),
    "weekday": ("星期", "Weekday"),
    "balance": ("均衡指数", "Balance index"),
    "conversion": ("转化率", "Conversion"),
    "no_snapshot": ("暂无数据快照：请先运行 eventchain serve", "No snapshot yet: run eventchain serve"),
}


# Labels of the stored codes (values stay codes in links, forms and JSON).
LABELS: Final[dict[str, tuple[str, str]]] = {
    "stage.lead": ("线索", "Lead"),
    "stage.contacted": ("已联系", "Contacted"),
    "stage.requirement": ("需求确认", "Requirement"),
    "stage.solution": ("方案", "Solution"),
    "stage.contract": ("合同", "Contract"),
    "stage.won": ("成交", "Won"),
    "stage.lost": ("流失", "Lost"),
    "stage.none": ("未分阶段", "No stage"),
    "channel.web_form": ("官网表单", "Web form"),
    "channel.douyin_dm": ("抖音私信", "Douyin DM"),
    "channel.expo_scan": ("展会扫码", "Expo scan"),
    "channel.call_400": ("400 电话", "400 call"),
    "channel.engineer_log": ("工程师日志", "Engineer log"),
    "channel.wecom_msg": ("企业微信", "WeCom"),
    "channel.visit": ("拜访", "Visit"),
    "channel.import": ("导入", "Import"),
    "direction.inbound": ("客户来", "inbound"),
    "direction.outbound": ("我方去", "outbound"),
    "column.display_name": ("姓名", "Name"),
    "column.owner_agent_id": ("负责人", "Owner"),
    "column.last_touch_at": ("最后接触", "Last touch"),
    "column.silent_days": ("沉默天数", "Days silent"),
    "column.import_batch": ("导入批次", "Import batch"),
    "column.metric": ("指标", "Metric"),
    "column.value": ("值", "Value"),
    "weekday.1": ("周一", "Mon"),
    "weekday.2": ("周二", "Tue"),
    "weekday.3": ("周三", "Wed"),
    "weekday.4": ("周四", "Thu"),
    "weekday.5": ("周五", "Fri"),
    "weekday.6": ("周六", "Sat"),
    "weekday.7": ("周日", "Sun"),
    # seed 003's CRM health indicators (domain.rules.HEALTH_INDICATORS)
    "indicator.active_share": ("每日活跃人员占比", "Active share of the team"),
    "indicator.stage_updates_on_time": ("阶段按时更新率", "Stage updates on time"),
    "indicator.core_fields_complete": ("核心字段完整率", "Core fields complete"),
    "indicator.intake_success": ("线索入库成功率", "Intake success"),
    "indicator.mean_first_response_hours": ("平均首次响应（小时）", "Mean first response (h)"),
    "indicator.corrections": ("当月更正次数", "Corrections this month"),
    "channel.unknown": ("无法识别的渠道", "Unknown channel"),
    "channel.?": ("未对上的消息", "Unaccounted"),
}


def label(words: dict[str, str], kind: str, value: object) -> str:
    """The label of a stored code (a stage, a channel…), the code itself when it has none."""
    if value is None:
        return "—"
    return words.get(f"{kind}.{value}", str(value))


def translator(language: str) -> dict[str, str]:
    index = LANGUAGES.index(language) if language in LANGUAGES else 0
    return {key: pair[index] for key, pair in (WORDS | LABELS | FOLLOW_UP_WORDS).items()}


# --- issue 28: a workspace a rep can work a whole day in (appended; keep additions below) ---

WORDS.update(
    {
        "vip": ("VIP", "VIP"),
        "record": ("记录", "Record"),
        "outcome": ("沟通结果", "Outcome"),
        "choose": ("请选择", "Choose"),
        "contact_kind": ("方式", "How"),
        "contact_details": ("联系方式", "Contact details"),
        "asked": ("客户咨询", "What they asked"),
        "budget": ("预算", "Budget"),
        "retract": ("更正", "Correct"),
        "retract_reason": ("更正原因（必填）", "Reason (required)"),
        "retracted": ("已更正", "Corrected"),
        "just_recorded": ("刚刚记录", "Just recorded"),
        "answer": ("去回复", "Answer"),
        "question": ("咨询内容", "Question"),
        "tags": ("标签", "Tags"),
        "sound": ("新线索提示音", "Sound for new leads"),
        "search": ("搜索", "Search"),
        "search_hint": ("姓名、电话、公司或编号", "Name, phone, company or id"),
        "export_csv": ("导出 CSV", "Export CSV"),
        "previous": ("上一页", "Previous"),
        "next": ("下一页", "Next"),
        "page": ("第 {n} 页", "Page {n}"),
        "sort": ("排序", "Sort"),
        "all": ("全部", "All"),
        "status": ("状态", "Status"),
        "answered": ("已响应", "Answered"),
        "unanswered": ("未响应", "Unanswered"),
        "first_response": ("首次响应", "First response"),
        "team_waiting": ("团队待首次响应", "Team's leads waiting"),
        "back": ("返回首页", "Back to the start page"),
        "error_title": ("出错了", "Something went wrong"),
        "no_permission": ("无权限", "No permission"),
        "not_found_hint": (
            "未找到：该页面或客户不存在，或不在您的可见范围内。请从工作台或客户列表进入。",
            "Not found: the page or customer does not exist or is not yours to see.",
        ),
        "forbidden_hint": (
            "无权限：此页面仅对主管和管理层开放。请返回我的工作台。",
            "No permission: this page is for directors and executives.",
        ),
        "csrf_hint": (
            "请求被拒绝：表单已过期。请刷新页面后重新提交。",
            "Request refused: the form expired. Reload the page and submit again.",
        ),
        "bad_request_hint": ("请求有误：{detail}", "Bad request: {detail}"),
        "unavailable_hint": (
            "暂无数据快照：投影服务尚未发布数据，请稍后刷新，或联系管理员启动服务。",
            "No snapshot yet: try again shortly or ask the operator to run eventchain serve.",
        ),
        "server_error_hint": ("服务器错误，请稍后重试。", "Server error: try again shortly."),
        "forbidden": ("请求被拒绝：表单已过期，请刷新页面后重试", "Request refused (missing CSRF token)"),
        "no_snapshot": ("暂无数据快照：请联系管理员启动服务", "No snapshot yet: run eventchain serve"),
        "overdue_by": ("已超时", "overdue"),
        "minutes_short": ("分钟", "min"),
        "hours_short": ("小时", "h"),
        "days_short": ("天", "d"),
        "hours_unit": ("小时", "h"),
        "period_all": ("全部时间", "All time"),
        "pipeline_note": (
            "管道与漏斗统计同一批客户（期间内有线索的客户）；金额只合计填写了预算的客户。",
            "Pipeline and funnel count the same customers (a lead in the period); the amount sums "
            "those who stated a budget.",
        ),
        "stage_facts_note": (
            "“已联系”由记录在案的首次响应自动得出；其余阶段需人工推进并以触点为依据。",
            "Contacted follows from a recorded first response; other stages are moved by hand with evidence.",
        ),
        "escalation_response": ("响应", "Response"),
        "role.sales": ("销售", "Sales"),
        "role.director": ("主管", "Director"),
        "role.exec": ("管理层", "Executive"),
        "new_leads": ("条新线索", "new leads"),
        "customer_id": ("编号", "Id"),
        "city": ("城市", "City"),
        "phone": ("电话", "Phone"),
        "email": ("邮箱", "E-mail"),
        "wechat": ("企业微信", "WeCom"),
    }
)
LABELS.update(
    {
        "channel.sms": ("短信", "SMS"),
        "channel.email": ("邮件", "E-mail"),
        "tag.urgent": ("急", "urgent"),
        "tag.vip": ("VIP", "VIP"),
        "tag.silent": ("沉默", "silent"),
        "tag.high_intent": ("高意向", "high intent"),
        "kind.call": ("电话", "Call"),
        "kind.sms": ("短信", "SMS"),
        "kind.email": ("邮件", "E-mail"),
        "kind.visit": ("拜访", "Visit"),
        "kind.wecom": ("企业微信回复", "WeCom reply"),
        "kind.douyin": ("抖音回复", "Douyin reply"),
        "outcome.reached": ("已沟通", "Talked"),
        "outcome.no_answer": ("未接通", "No answer"),
        "outcome.callback": ("约定回访", "Call back"),
        "outcome.sent": ("已发送", "Sent"),
        "outcome.not_interested": ("暂无意向", "Not interested"),
        "outcome.wrong_contact": ("联系方式有误", "Wrong contact"),
        "identity.phone": ("电话", "Phone"),
        "identity.email": ("邮箱", "E-mail"),
        "identity.wecom_external_id": ("企业微信", "WeCom"),
        "identity.douyin_open_id": ("抖音", "Douyin"),
        "identity.uscc": ("统一社会信用代码", "USCC"),
        "identity.pos_card": ("会员卡", "POS card"),
        "identity.xhs_id": ("小红书", "Xiaohongshu"),
        "sort.last_touch": ("最近触点", "Last touch"),
        "sort.name": ("姓名", "Name"),
        "sort.first_touch": ("首次接触", "First touch"),
        "sort.stage": ("阶段", "Stage"),
        "metric.customers": ("客户数", "Customers"),
        "metric.null_rate_company": ("公司缺失率", "Company missing"),
        "metric.null_rate_city": ("城市缺失率", "City missing"),
        "metric.null_rate_industry": ("行业缺失率", "Industry missing"),
        "metric.null_rate_name": ("姓名缺失率", "Name missing"),
        "metric.null_rate_phone": ("电话缺失率", "Phone missing"),
        "metric.duplicate_candidate_rate": ("疑似重复率", "Duplicate candidates"),
        "metric.held_identity_rate": ("身份暂挂率", "Held identity links"),
        "metric.rows_read": ("读取行数", "Rows read"),
        "metric.rejected_rate": ("拒收率", "Rejected"),
        "metric.abnormal_char_rate": ("异常字符率", "Abnormal characters"),
        "batch.overall": ("全部", "overall"),
    }
)


def role_label(words: dict[str, str], role: object) -> str:
    """``sales:a-li`` → 销售 (the agent's name is shown beside it)."""
    kind = str(role).partition(":")[0]
    return words.get(f"role.{kind}", kind)


def refusal(error: Exception) -> str:
    """A refused command as the agent reads it: Chinese, saying what to do. Messages of the
    use cases' ActionError already are; rule and lookup errors are put in words here."""
    from application.event_chain import CustomerNotFoundError
    from application.rep_actions import ActionError
    from domain.rules import RulesError

    if isinstance(error, ActionError):
        return str(error).splitlines()[0]
    if isinstance(error, CustomerNotFoundError):
        return "未找到该客户，请从客户列表重新进入"
    if isinstance(error, RulesError) and error.path.startswith("$.stages."):
        stage = error.path.removeprefix("$.stages.")
        name = LABELS.get(f"stage.{stage}", (stage, stage))[0]
        return (
            f"无法进入「{name}」阶段：规则要求以一条符合条件的我方触点为依据。"
            "请先记录一次联系（电话、短信、邮件、拜访或渠道回复），再选择它作为依据。"
        )
    if isinstance(error, RulesError) and error.path == "--evidence":
        return "所选依据不是该客户的触点，请从列表中选择"
    if "unknown stage" in str(error):
        return "未知阶段，请从列表中选择"
    return "操作未完成：请检查填写内容后重试"


# Sessions, passwords and devices (issue 29).
WORDS.update(
    {
        "current_password": ("当前密码", "Current password"),
        "new_password": ("新密码", "New password"),
        "change_password": ("修改密码", "Change password"),
        "must_change_password": (
            "您正在使用临时密码，请先设置自己的新密码再继续",
            "You signed in with a temporary password: set your own before you go on",
        ),
        "too_short": ("至少需要 10 个字符", "must be at least 10 characters long"),
        "too_long": ("最多 256 个字符", "must be at most 256 characters long"),
        "too_common": (
            "太常见，容易被猜中（如 123456、生日、键盘上连着的键），请换一个",
            "too common, easily guessed (like 123456 or qwerty): choose another",
        ),
        "wrong_current": ("当前密码不正确", "is not right"),
        "same_as_before": ("不能与原密码相同", "must differ from the old one"),
        "sign_ins_held": (
            "账户因异常数据读取已被冻结，请联系主管解除",
            "Sign-ins are held after a read alert: ask your director to release them",
        ),
        "my_devices": ("我的设备", "My devices"),
        "team_devices": ("团队设备", "My team's devices"),
        "device": ("设备/浏览器", "Device / browser"),
        "address": ("地址", "Address"),
        "signed_in_at": ("登录时间", "Signed in"),
        "last_seen": ("最近活动", "Last seen"),
        "this_device": ("（本机）", "(this device)"),
        "end_session": ("下线", "Sign out"),
        "sign_out_everywhere": ("退出所有设备", "Sign out everywhere"),
        "held_accounts": ("已冻结账户", "Held accounts"),
        "release": ("解除冻结", "Release"),
        "released": ("已解除冻结", "Released"),
        "sign_in_history": ("近 7 天登录记录", "Sign-ins of the last 7 days"),
        "agent": ("销售", "Agent"),
        "ended": ("结束", "Ended"),
    }
)

# --- the router's safety net on the director's board (issue 25) ---

WORDS.update(
    {
        "unowned_title": ("无人负责的线索", "Leads nobody owns"),
        "unowned_note": (
            "这些线索记录已超过 30 秒仍无负责人：分配服务会在下一轮重新分配；"
            "若持续存在，请联系管理员检查服务状态。",
            "These leads have had no owner for over 30 s: the router picks them up on its next tick; "
            "if they stay, ask the operator to check eventchain status.",
        ),
        "unowned_none": ("所有线索均已有负责人。", "Every lead has an owner."),
        "unowned_customer": ("客户", "Customer"),
        "unowned_channel": ("渠道", "Channel"),
        "unowned_lead_at": ("线索时间", "Lead at"),
        "unowned_recorded_at": ("记录时间", "Recorded at"),
    }
)
