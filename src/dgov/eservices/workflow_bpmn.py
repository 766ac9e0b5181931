"""Writes the BPMN 2.0 files under `bpmn/` (a developer's tool: `dgov eservices bpmn-write`).

The files in the repository are the source of truth that operators deploy; this module only saves us
from drawing twelve near-identical diagrams by hand. Every file carries lanes (one per agency), the
`spiffworkflow:properties` the engine routes work items by, and BPMNDiagram shapes so that the bpmn.io
modeler opens it laid out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

BPMN_DIR = Path(__file__).parent / "bpmn"

_SIZES = {
    "startEvent": (36, 36),
    "endEvent": (36, 36),
    "userTask": (110, 80),
    "serviceTask": (110, 80),
    "exclusiveGateway": (50, 50),
    "parallelGateway": (50, 50),
}
LANE_HEIGHT = 150
COLUMN = 150
LEFT = 190


@dataclass
class Node:
    id: str
    kind: str
    name: str
    lane: str
    col: float
    props: dict[str, str] = field(default_factory=dict)
    operator: str | None = None
    default_flow: str | None = None
    row: float = 0.0  # offset inside the lane, in half lanes, for parallel branches


@dataclass
class Flow:
    id: str
    source: str
    target: str
    condition: str | None = None
    name: str = ""


@dataclass
class Timer:
    id: str
    attached_to: str
    expression: str
    target: str  # the flow out of the timer goes to this node


@dataclass
class Process:
    id: str
    name: str
    lanes: list[tuple[str, str]]  # (lane id, lane name shown in the modeler)
    nodes: list[Node] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)

    def node(self, *args: object, **kwargs: object) -> Node:
        n = Node(*args, **kwargs)  # type: ignore[arg-type]
        self.nodes.append(n)
        return n

    def flow(self, source: str, target: str, condition: str | None = None, name: str = "") -> Flow:
        f = Flow(f"flow_{len(self.flows) + 1}", source, target, condition, name)
        self.flows.append(f)
        return f


def _lane_index(p: Process, lane: str) -> int:
    return [lane_id for lane_id, _ in p.lanes].index(lane)


def _bounds(p: Process, n: Node) -> tuple[float, float, float, float]:
    w, h = _SIZES[n.kind]
    cx = LEFT + n.col * COLUMN
    cy = _lane_index(p, n.lane) * LANE_HEIGHT + LANE_HEIGHT / 2 + n.row * LANE_HEIGHT / 3
    return cx - w / 2, cy - h / 2, w, h


def _props(n: Node) -> str:
    if not n.props and not n.operator:
        return ""
    inner = ""
    if n.props:
        inner += (
            "<spiffworkflow:properties>"
            + "".join(
                f"<spiffworkflow:property name={quoteattr(k)} value={quoteattr(v)} />"
                for k, v in n.props.items()
            )
            + "</spiffworkflow:properties>"
        )
    if n.operator:
        inner += f'<spiffworkflow:serviceTaskOperator id={quoteattr(n.operator)} resultVariable="result" />'
    return f"<bpmn:extensionElements>{inner}</bpmn:extensionElements>"


def to_xml(p: Process) -> str:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
        'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
        'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
        f'id="defs_{p.id}" targetNamespace="https://dgov.example/bpmn">',
        f'<bpmn:collaboration id="collab_{p.id}">'
        f'<bpmn:participant id="pool_{p.id}" name={quoteattr(p.name)} processRef="{p.id}" />'
        "</bpmn:collaboration>",
        f'<bpmn:process id="{p.id}" name={quoteattr(p.name)} isExecutable="true">',
        "<bpmn:laneSet>",
    ]
    for lane_id, lane_name in p.lanes:
        refs = "".join(f"<bpmn:flowNodeRef>{n.id}</bpmn:flowNodeRef>" for n in p.nodes if n.lane == lane_id)
        refs += "".join(
            f"<bpmn:flowNodeRef>{t.id}</bpmn:flowNodeRef>"
            for t in p.timers
            if next(n for n in p.nodes if n.id == t.attached_to).lane == lane_id
        )
        out.append(f'<bpmn:lane id="{lane_id}" name={quoteattr(lane_name)}>{refs}</bpmn:lane>')
    out.append("</bpmn:laneSet>")
    for n in p.nodes:
        incoming = "".join(f"<bpmn:incoming>{f.id}</bpmn:incoming>" for f in p.flows if f.target == n.id)
        outgoing = "".join(f"<bpmn:outgoing>{f.id}</bpmn:outgoing>" for f in p.flows if f.source == n.id)
        default = f' default="{n.default_flow}"' if n.default_flow else ""
        out.append(
            f'<bpmn:{n.kind} id="{n.id}" name={quoteattr(n.name)}{default}>{_props(n)}{incoming}{outgoing}'
            f"</bpmn:{n.kind}>"
        )
    for t in p.timers:
        outgoing = "".join(f"<bpmn:outgoing>{f.id}</bpmn:outgoing>" for f in p.flows if f.source == t.id)
        out.append(
            f'<bpmn:boundaryEvent id="{t.id}" name="SLA" cancelActivity="false" '
            f'attachedToRef="{t.attached_to}">'
            f"{outgoing}<bpmn:timerEventDefinition><bpmn:timeDate>{t.expression}</bpmn:timeDate>"
            "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        )
    for f in p.flows:
        name = f" name={quoteattr(f.name)}" if f.name else ""
        cond = (
            f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" '
            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{f.condition}</bpmn:conditionExpression>'
            if f.condition
            else ""
        )
        out.append(
            f'<bpmn:sequenceFlow id="{f.id}"{name} sourceRef="{f.source}" targetRef="{f.target}">{cond}'
            "</bpmn:sequenceFlow>"
        )
    out.append("</bpmn:process>")
    out.append(_diagram(p))
    out.append("</bpmn:definitions>")
    return "\n".join(out) + "\n"


def _timer_bounds(p: Process, t: Timer) -> tuple[float, float, float, float]:
    x, y, w, h = _bounds(p, next(n for n in p.nodes if n.id == t.attached_to))
    return x + w - 28, y + h - 18, 36, 36


def _diagram(p: Process) -> str:
    width = LEFT + (max(n.col for n in p.nodes) + 1) * COLUMN
    out = [
        f'<bpmndi:BPMNDiagram id="diagram_{p.id}">'
        f'<bpmndi:BPMNPlane id="plane_{p.id}" bpmnElement="collab_{p.id}">'
    ]
    out.append(
        f'<bpmndi:BPMNShape id="pool_{p.id}_di" bpmnElement="pool_{p.id}" isHorizontal="true">'
        f'<dc:Bounds x="0" y="0" width="{width:.0f}" height="{len(p.lanes) * LANE_HEIGHT}" />'
        "</bpmndi:BPMNShape>"
    )
    for i, (lane_id, _name) in enumerate(p.lanes):
        out.append(
            f'<bpmndi:BPMNShape id="{lane_id}_di" bpmnElement="{lane_id}" isHorizontal="true">'
            f'<dc:Bounds x="30" y="{i * LANE_HEIGHT}" width="{width - 30:.0f}" height="{LANE_HEIGHT}" />'
            "</bpmndi:BPMNShape>"
        )
    centre: dict[str, tuple[float, float]] = {}
    for n in p.nodes:
        x, y, w, h = _bounds(p, n)
        centre[n.id] = (x + w / 2, y + h / 2)
        marker = ' isMarkerVisible="true"' if n.kind == "exclusiveGateway" else ""
        out.append(
            f'<bpmndi:BPMNShape id="{n.id}_di" bpmnElement="{n.id}"{marker}>'
            f'<dc:Bounds x="{x:.0f}" y="{y:.0f}" width="{w}" height="{h}" /></bpmndi:BPMNShape>'
        )
    for t in p.timers:
        x, y, w, h = _timer_bounds(p, t)
        centre[t.id] = (x + w / 2, y + h)
        out.append(
            f'<bpmndi:BPMNShape id="{t.id}_di" bpmnElement="{t.id}">'
            f'<dc:Bounds x="{x:.0f}" y="{y:.0f}" width="{w}" height="{h}" /></bpmndi:BPMNShape>'
        )
    for f in p.flows:
        (x1, y1), (x2, y2) = centre[f.source], centre[f.target]
        points = [(x1, y1), (x2, y2)] if abs(y1 - y2) < 1 else [(x1, y1), (x1, y2), (x2, y2)]
        wps = "".join(f'<di:waypoint x="{x:.0f}" y="{y:.0f}" />' for x, y in points)
        out.append(f'<bpmndi:BPMNEdge id="{f.id}_di" bpmnElement="{f.id}">{wps}</bpmndi:BPMNEdge>')
    out.append("</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>")
    return "".join(out)


# --- the processes ---------------------------------------------------------------------------------------


def _review(
    p: Process,
    *,
    prefix: str,
    lane: str,
    name: str,
    agency: str,
    role: str,
    unit: str,
    col: float,
    row: float = 0.0,
    actions: str = "approve,supplement,reject",
    branch: str = "",
) -> tuple[str, str]:
    """An official's task with its SLA timer and a supplement loop through the citizen; returns
    (entry node, decision gateway). Outcomes other than `supplement` leave through the gateway."""
    task = p.node(
        f"{prefix}_review",
        "userTask",
        name,
        lane,
        col,
        props={"agency": agency, "role": role, "unit": unit, "actions": actions, "branch": branch},
        row=row,
    )
    gw = p.node(f"{prefix}_decided", "exclusiveGateway", "", lane, col + 1, row=row)
    supplement = p.node(
        f"{prefix}_supplement",
        "userTask",
        "Bổ sung hồ sơ / Supply the missing documents",
        "citizen",
        col + 1,
        props={
            "agency": "citizen",
            "role": "applicant",
            "unit": "applicant",
            "actions": "supply",
            "branch": branch,
        },
        row=row,
    )
    p.flow(task.id, gw.id)
    p.flow(gw.id, supplement.id, f"{prefix}_outcome == 'supplement'", "supplement")
    p.flow(supplement.id, task.id)
    overdue = p.node(
        f"{prefix}_overdue",
        "serviceTask",
        "Quá hạn / Overdue",
        lane,
        col,
        operator="sla.overdue",
        row=row - 0.9,
    )
    overdue_end = p.node(f"{prefix}_overdue_end", "endEvent", "", lane, col + 1, row=row - 0.9)
    p.timers.append(Timer(f"{prefix}_sla", task.id, "sla_due", overdue.id))
    p.flow(f"{prefix}_sla", overdue.id)
    p.flow(overdue.id, overdue_end.id)
    return task.id, gw.id


def generic(
    pid: str,
    name: str,
    *,
    agency: str,
    agency_name: str,
    role: str,
    unit: str,
    receive_agency: str = "UBND",
) -> Process:
    """receive (one-stop) → decide (the competent officer) → issue the result, or reject."""
    p = Process(
        pid,
        name,
        lanes=[
            ("citizen", "Công dân / Citizen"),
            ("one_stop", "Bộ phận một cửa / One-stop desk"),
            ("agency", agency_name),
            ("system", "Hệ thống / System"),
        ],
    )
    start = p.node("start", "startEvent", "Nộp hồ sơ / Submitted", "citizen", 0)
    accept = p.node(
        "accept",
        "serviceTask",
        "Tiếp nhận điện tử / Acknowledge",
        "system",
        1,
        operator="dossier.acknowledge",
    )
    p.flow(start.id, accept.id)
    receive, receive_gw = _review(
        p,
        prefix="receive",
        lane="one_stop",
        name="Tiếp nhận hồ sơ / Receive the dossier",
        agency=receive_agency,
        role="one_stop_officer",
        unit="commune",
        col=2,
        actions="receive,supplement,reject",
    )
    p.flow(accept.id, receive)
    decide, decide_gw = _review(
        p,
        prefix="decide",
        lane="agency",
        name="Thẩm định và quyết định / Examine and decide",
        agency=agency,
        role=role,
        unit=unit,
        col=4,
    )
    reject = p.node("reject", "serviceTask", "Từ chối / Reject", "system", 6, operator="dossier.reject")
    p.flow(receive_gw, decide, "receive_outcome == 'receive'", "receive")
    p.flow(receive_gw, reject.id, "receive_outcome == 'reject'", "reject")
    issue = p.node(
        "issue",
        "serviceTask",
        "Trả kết quả / Issue the result",
        "system",
        6,
        operator="dossier.issue",
        row=0.9,
    )
    p.flow(decide_gw, issue.id, "decide_outcome == 'approve'", "approve")
    p.flow(decide_gw, reject.id, "decide_outcome == 'reject'", "reject")
    notify = p.node("notify", "serviceTask", "Thông báo / Notify", "system", 7, operator="dossier.notify")
    p.flow(issue.id, notify.id)
    p.flow(reject.id, notify.id)
    end = p.node("end", "endEvent", "Kết thúc / Done", "system", 8)
    p.flow(notify.id, end.id)
    return p


def birth_bundle() -> Process:
    """Decree 63/2024: one dossier, three agencies in parallel, one result."""
    p = Process(
        "birth_bundle",
        "Liên thông khai sinh - thường trú - BHYT / Birth bundle",
        lanes=[
            ("citizen", "Công dân / Citizen"),
            ("justice", "Tư pháp - hộ tịch (BTP) / Civil status"),
            ("police", "Công an - cư trú (BCA) / Residence"),
            ("insurance", "Bảo hiểm xã hội (BHXH) / Health insurance"),
            ("system", "Hệ thống / System"),
        ],
    )
    start = p.node("start", "startEvent", "Nộp hồ sơ / Submitted", "citizen", 0)
    accept = p.node(
        "accept",
        "serviceTask",
        "Tiếp nhận điện tử / Acknowledge",
        "system",
        1,
        operator="dossier.acknowledge",
    )
    split = p.node("split", "parallelGateway", "", "system", 2)
    join = p.node("join", "parallelGateway", "", "system", 6)
    p.flow(start.id, accept.id)
    p.flow(accept.id, split.id)
    branches = [
        (
            "civil",
            "justice",
            "Duyệt đăng ký khai sinh / Review the birth registration",
            "BTP",
            "civil_status_officer",
            "commune",
            "civil_status",
        ),
        (
            "residence",
            "police",
            "Duyệt đăng ký thường trú / Review the residence registration",
            "BCA",
            "residence_officer",
            "commune",
            "residence",
        ),
        (
            "insurance",
            "insurance",
            "Duyệt cấp thẻ BHYT / Review the health insurance card",
            "BHXH",
            "insurance_officer",
            "province",
            "health_insurance",
        ),
    ]
    for prefix, lane, name, agency, role, unit, branch in branches:
        task, gw = _review(
            p,
            prefix=prefix,
            lane=lane,
            name=name,
            agency=agency,
            role=role,
            unit=unit,
            col=3,
            branch=branch,
            row=0.4,
        )
        p.flow(split.id, task)
        p.flow(gw, join.id, f"{prefix}_outcome != 'supplement'", "decided")
    decided = p.node("all_approved", "exclusiveGateway", "", "system", 7)
    p.flow(join.id, decided.id)
    reject = p.node(
        "reject", "serviceTask", "Từ chối / Reject", "system", 8, operator="dossier.reject", row=-0.9
    )
    register = p.node(
        "register_birth",
        "serviceTask",
        "Đăng ký khai sinh, cấp số định danh / Register the birth, issue the ID number",
        "justice",
        8,
        operator="birth.register",
    )
    household = p.node(
        "add_to_household",
        "serviceTask",
        "Đăng ký thường trú / Add to the household",
        "police",
        9,
        operator="birth.residence",
    )
    card = p.node(
        "issue_card",
        "serviceTask",
        "Cấp thẻ BHYT / Issue the insurance card",
        "insurance",
        10,
        operator="birth.insurance",
    )
    cert = p.node(
        "issue_certificate",
        "serviceTask",
        "Cấp giấy khai sinh điện tử / Issue the signed certificate",
        "system",
        11,
        operator="birth.certificate",
    )
    born = p.node(
        "publish_born",
        "serviceTask",
        "Phát sự kiện person.born / Publish person.born",
        "system",
        12,
        operator="birth.publish",
    )
    notify = p.node(
        "notify",
        "serviceTask",
        "Thông báo cha mẹ / Notify the parents",
        "system",
        13,
        operator="dossier.notify",
    )
    end = p.node("end", "endEvent", "Kết thúc / Done", "system", 14)
    p.flow(
        decided.id,
        register.id,
        "civil_outcome == 'approve' and residence_outcome == 'approve' and insurance_outcome == 'approve'",
        "all approve",
    )
    decided.default_flow = p.flow(decided.id, reject.id, None, "a branch rejects").id
    p.flow(register.id, household.id)
    p.flow(household.id, card.id)
    p.flow(card.id, cert.id)
    p.flow(cert.id, born.id)
    p.flow(born.id, notify.id)
    p.flow(reject.id, notify.id)
    p.flow(notify.id, end.id)
    return p


# (file, process id, name, agency member, agency lane name, role, unit scope)
GENERIC: list[tuple[str, str, str, str, str, str]] = [
    (
        "birth_registration",
        "Đăng ký khai sinh / Birth registration",
        "BTP",
        "Tư pháp - hộ tịch / Civil status",
        "civil_status_officer",
        "commune",
    ),
    (
        "marriage_registration",
        "Đăng ký kết hôn / Marriage registration",
        "BTP",
        "Tư pháp - hộ tịch / Civil status",
        "civil_status_officer",
        "commune",
    ),
    (
        "marital_status",
        "Xác nhận tình trạng hôn nhân / Marital status confirmation",
        "BTP",
        "Tư pháp - hộ tịch / Civil status",
        "civil_status_officer",
        "commune",
    ),
    (
        "death_registration",
        "Đăng ký khai tử / Death registration",
        "BTP",
        "Tư pháp - hộ tịch / Civil status",
        "civil_status_officer",
        "commune",
    ),
    (
        "permanent_residence",
        "Đăng ký thường trú / Permanent residence",
        "BCA",
        "Công an - cư trú / Residence",
        "residence_officer",
        "commune",
    ),
    (
        "temporary_residence",
        "Đăng ký tạm trú / Temporary residence",
        "BCA",
        "Công an - cư trú / Residence",
        "residence_officer",
        "commune",
    ),
    (
        "child_health_insurance",
        "Cấp thẻ BHYT trẻ dưới 6 tuổi / Child health insurance card",
        "BHXH",
        "Bảo hiểm xã hội / Social insurance",
        "insurance_officer",
        "province",
    ),
    (
        "funeral_allowance",
        "Trợ cấp mai táng / Funeral allowance",
        "BHXH",
        "Bảo hiểm xã hội / Social insurance",
        "insurance_officer",
        "province",
    ),
    (
        "household_business",
        "Đăng ký hộ kinh doanh / Household business",
        "UBND",
        "Phòng kinh tế / Economic office",
        "registry_officer",
        "commune",
    ),
    (
        "judicial_record",
        "Cấp phiếu lý lịch tư pháp / Judicial record certificate",
        "BTP",
        "Sở Tư pháp / Provincial justice department",
        "civil_status_officer",
        "province",
    ),
    (
        "construction_permit",
        "Cấp giấy phép xây dựng / Construction permit",
        "BXD",
        "Quản lý xây dựng / Construction office",
        "registry_officer",
        "commune",
    ),
]


def all_processes() -> list[Process]:
    procs = [birth_bundle()]
    for pid, name, agency, lane_name, role, unit in GENERIC:
        procs.append(generic(pid, name, agency=agency, agency_name=lane_name, role=role, unit=unit))
    return procs


def write_all(directory: Path = BPMN_DIR) -> list[Path]:
    directory.mkdir(exist_ok=True)
    written = []
    for p in all_processes():
        path = directory / f"{p.id}.bpmn"
        path.write_text(to_xml(p), encoding="utf-8")
        written.append(path)
    return written
