"""An admin changes the policy in a real browser: check, see the problem by line, save, and
the pages pass axe-core and fit a 360 px phone (issue #4)."""

from __future__ import annotations

import pytest

from server.casework.policy_versions import shipped_source
from tests.browser.conftest import LiveServer, NewContext, pass_second_factor, submit
from tests.browser.test_call_access import no_violations
from tests.conftest import PASSWORD, World

pytestmark = pytest.mark.browser


async def test_admin_changes_the_policy_with_the_keyboard_on_a_phone(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    phone = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
    page = await (await new_context(**phone)).new_page()
    await page.goto("/login?next=/admin/policy")
    await page.get_by_label("Email address").fill(world.users["adam"].email)
    await page.get_by_label("Password").fill(PASSWORD)
    await submit(page, page.get_by_role("button", name="Sign in"), "/login")
    await pass_second_factor(page, world.users["adam"].email)
    await page.wait_for_url("**/admin/policy")
    await no_violations(page, "policy page")

    await page.get_by_role("link", name="Change the policy").click()
    await page.wait_for_url("**/admin/policy/edit")
    await no_violations(page, "edit page")
    broken = shipped_source().replace("max_percent = 50", "max_percent = 150", 1)
    await page.get_by_label("Policy text (TOML)").fill(broken)
    await page.get_by_label("Why is it changing?").fill("Allow more remote contact.")
    await page.get_by_role("button", name="Check").click()
    alert = page.get_by_role("alert")
    await alert.wait_for()
    assert "between 0 and 100" in await alert.inner_text()
    await no_violations(page, "edit page with problems")

    fixed = broken.replace("max_percent = 150", "max_percent = 60", 1).replace(
        'version = "', 'version = "browser-', 1)
    await page.get_by_label("Policy text (TOML)").fill(fixed)
    await page.get_by_label("Why is it changing?").focus()
    await page.keyboard.press("Tab")  # to "Check"
    await page.keyboard.press("Tab")  # to "Save and put in force"
    await submit(page, lambda: page.keyboard.press("Enter"), "/admin/policy")
    await page.wait_for_url("**/admin/policy?saved=1")
    status = page.get_by_role("status")
    assert "The new version is in force" in await status.inner_text()
    assert "At most 60% of contacts over 90 days." in await page.inner_text("main")
    await no_violations(page, "policy page after saving")
