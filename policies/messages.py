"""The wording of every `Reason` `policies.decide` gives: rule titles, messages and remedies.

Each is an English message id marked with `N_`; it is translated where shown, then formatted
with the reason's `params` (the remedy takes the same params).
"""

from __future__ import annotations

from policies.facts import ChecklistRole
from policies.policy import CHECKLIST, IN_PERSON_FIRST, LAST_FACE_TO_FACE, REMOTE_SHARE
from policies.wording import N_

TITLES: dict[str, str] = {
    IN_PERSON_FIRST: N_("In person first"),
    LAST_FACE_TO_FACE: N_("Regular face-to-face contact"),
    REMOTE_SHARE: N_("Share of remote contact"),
    "risk.very_high_rosh": N_("Very high risk of serious harm"),
    "risk.mappa": N_("Managed under MAPPA"),
    "risk.national_security": N_("National security case"),
    "risk.youth": N_("Youth case"),
    "risk.child_protection": N_("Child protection plan"),
    "risk.child_in_need": N_("Child in need plan"),
    "risk.domestic_abuse": N_("Domestic abuse concerns"),
    "risk.sexual_conviction": N_("Sexual conviction"),
    CHECKLIST: N_("Safe-space checks"),
}

NO_FACE_TO_FACE = N_("No face-to-face contact has been recorded with this client yet.")
TOO_FEW_FACE_TO_FACE = N_(
    "Face-to-face contacts recorded: {count}; at least {required} are needed before a remote "
    "session.")
NO_FACE_TO_FACE_CURRENT = N_(
    "No face-to-face contact has been recorded between this client and their current "
    "practitioner yet.")
TOO_FEW_FACE_TO_FACE_CURRENT = N_(
    "Face-to-face contacts with the current practitioner: {count}; at least {required} are "
    "needed before a remote session.")
BOOK_IN_PERSON_FIRST = N_("Book an in-person appointment first.")
BOOK_IN_PERSON_CURRENT = N_("Book an in-person appointment with the current practitioner first.")

LAST_FACE_TO_FACE_TOO_OLD = N_(
    "The last face-to-face contact was {days} days ago; the limit is {limit}.")
REMOTE_SHARE_TOO_HIGH = N_(
    "With this session, {share}% of contacts in the last {window} days would be remote; the "
    "limit is {limit}%.")

RISK_NEEDS_APPROVAL = N_(
    "Remote contact for this client needs a senior probation officer's approval.")
RISK_BLOCKED = N_("Remote contact is not allowed for this client.")
RISK_SUPPLEMENT_ONLY = N_(
    "Remote contact for this client may only supplement face-to-face contact.")
RISK_REPLACES = N_(
    "Remote contact for this client may only supplement face-to-face contact; this session "
    "would replace it, which needs a senior probation officer's approval.")

ASK_APPROVAL = N_(
    "Book an in-person appointment, or ask a senior probation officer to approve remote "
    "contact with a written rationale.")
BOOK_IN_PERSON = N_("Book an in-person appointment.")
KEEP_FACE_TO_FACE = N_("Keep face-to-face contact going alongside remote sessions.")

CHECKLIST_MISSING: dict[ChecklistRole, str] = {
    ChecklistRole.CLIENT: N_("The client has not answered every safe-space check yet."),
    ChecklistRole.PRACTITIONER_PREMISES: N_(
        "The practitioner has not answered every safe-space check yet."),
    ChecklistRole.PRACTITIONER_HOME: N_(
        "The practitioner has not answered every safe-space check yet."),
    ChecklistRole.INTERPRETER: N_("The interpreter has not answered every safe-space check yet."),
}
WAIT_FOR_CHECKS = N_("Start the session only when every safe-space check has been answered.")
CHECK_FAILED = N_("A safe-space check that must be met was not met.")
OFFER_ANOTHER_WAY = N_(
    "Do not start the session; offer another way: rebook face to face, or a phone call.")
CHECK_ADVISORY = N_("A safe-space check was not met; you may go ahead, with care.")
TALK_IT_THROUGH = N_("Talk it through before going on, and note it on the contact record.")
