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
}


def label(words: dict[str, str], kind: str, value: object) -> str:
    """The label of a stored code (a stage, a channel…), the code itself when it has none."""
    if value is None:
        return "—"
    return words.get(f"{kind}.{value}", str(value))


def translator(language: str) -> dict[str, str]:
    index = LANGUAGES.index(language) if language in LANGUAGES else 0
    return {key: pair[index] for key, pair in (WORDS | LABELS | FOLLOW_UP_WORDS).items()}
