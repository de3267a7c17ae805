"""The follow-up plans' words in the workspace (issue 30): Chinese first, English available."""

from __future__ import annotations

from typing import Final

WORDS: Final[dict[str, tuple[str, str]]] = {
    "follow_ups_due": ("待办跟进步骤", "Follow-up steps due"),
    "follow_up_step": ("步骤", "Step"),
    "follow_up_action": ("建议动作", "Suggested action"),
    "follow_up_log": ("去记录", "Log it"),
    "follow_up_due_at": ("到期", "Due"),
    "follow_up_met_at": ("完成于", "Met"),
    "follow_up_plan": ("跟进计划", "Follow-up plan"),
    "follow_up_rate": ("跟进计划执行率", "Follow-up execution rate"),
    "follow_up_steps": ("步骤数", "Steps"),
    "follow_up_met_on_time": ("按时完成", "Met on time"),
    "follow_up_open": ("未完成", "Open"),
    "calendar_warning": ("节假日日历即将失效", "Holiday calendar ends soon"),
    "status.due": ("到期", "due"),
    "status.overdue": ("逾期", "overdue"),
    "status.met": ("按时完成", "met"),
    "status.met_late": ("逾期完成", "met late"),
    "status.paused": ("已暂停", "paused"),
}
