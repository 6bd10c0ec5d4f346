"""/imagine use cases: submit, cancel, follow a job to its image, deliver it once, resume after a restart.

`deliver` is the one loop that follows a job for every platform: it edits the status message
through the adapter's `JobOutput` port while the job waits and paints, posts the image, and marks
the job delivered. `resume` runs it again for every job a stopped bot left undelivered.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

from bot import messages
from bot.commands import ONBOARD_COMMAND
from bot.core.text import visible
from bot.core.ports import DeliveryRefused, JobOutput
from bot.core.params import ImagineParams, check_params, parse_imagine
from bot.core.results import ResultFlows, is_personalised, result_rows
from bot.core.servers import Place, ServerFlows
from bot.core.types import Delivery, MemberRef, Posted, Submitted, Update
from bot.queue import Progress
from storage.store import JobRecord, Member, MemberSettings
from viper.contracts import jobs
from viper.contracts.errors import InvalidArgument, JobCancelled, NotYours, ViperError
from viper.contracts.states import JobKind, JobState

log = logging.getLogger("viper.bot")


class ImagineFlows(ResultFlows, ServerFlows):
    def check_prompt(self, prompt: str | None) -> str:
        prompt = " ".join(visible(prompt).split())
        if not prompt:
            raise InvalidArgument("the prompt is empty", argument="prompt")
        limit = self.settings.bot.max_prompt_chars
        if len(prompt) > limit:
            raise InvalidArgument(f"the prompt is {len(prompt)} characters; the limit is {limit}", argument="prompt")
        return prompt

    async def submit_imagine(
        self, who: MemberRef, prompt: str | ImagineParams | None, chat_ref: dict | None = None, *,
        seed: int | None = None, place: Place | None = None,
    ) -> Submitted:
        """Validate, record (before queueing, so a restart can resume delivery) and queue an /imagine.

        `prompt` is the text a member typed, flags included (`a lighthouse --ar 16:9`), or
        parameters already taken apart (Discord's options); the member's /settings fill what it
        leaves out.
        """
        params = prompt if isinstance(prompt, ImagineParams) else parse_imagine(prompt or "", max_steps=self._max_steps)
        params.prompt = self.check_prompt(params.prompt)
        params = check_params(params, max_steps=self._max_steps)
        if params.no:
            params.no = self.check_prompt(params.no)
        await self.moderate(who, params.prompt, "prompt", place)
        if params.no:
            await self.moderate(who, params.no, "no", place)
        member = await self.member(who)
        profile = await self.store.profile(member.id)
        if params.profiles:  # share codes (and "me"): their profiles, blended, instead of the member's own
            liked, disliked = await self.blended_profile(who, member, params.profiles)
        else:
            if profile is None and self.settings.bot.require_profile:
                raise InvalidArgument("you have no taste profile yet", argument="profile")
            liked, disliked = (profile.liked, profile.disliked) if profile else ([], [])
        defaults = await self.store.member_settings(member.id)
        request = jobs.GenerateRequest(
            prompt=params.prompt,
            liked=list(liked),
            disliked=list(disliked),
            negative_prompt=params.no,
            seed=seed if seed is not None else params.seed if params.seed is not None else secrets.randbelow(2**31),
            steps=params.steps if params.steps is not None else defaults.steps,
            aspect=params.ar or defaults.ar,
            strength=params.strength if params.strength is not None else defaults.strength,
        )
        personalised = bool(liked or disliked) and request.strength != 0
        return await self.submit_request(who, member, request, chat_ref, action="imagine", personalised=personalised,
                                         profiles=params.profiles, place=place, defaults=defaults)

    @property
    def _max_steps(self) -> int:
        return self.settings.engine.max_steps

    async def submit_request(
        self, who: MemberRef, member: Member, request: jobs.GenerateRequest, chat_ref: dict | None, *,
        action: str, personalised: bool, parent: str | None = None, profiles: list[str] | None = None,
        place: Place | None = None, defaults: MemberSettings | None = None,
    ) -> Submitted:
        """Record and queue one generation for `member` (an /imagine, or an action on an image),
        within the member's queued-images cap and the limits of `place`. The stored recipe leaves
        out image bytes."""
        await self.check_limits(who, member, place)
        busy = await self.store.queued_jobs(member_id=member.id)  # on every platform the person uses
        if len(busy) >= self.settings.bot.max_queued_per_member:
            raise InvalidArgument(
                f"you already have {len(busy)} images on the way; wait for one to arrive first", argument="queue"
            )
        chat_ref = dict(chat_ref or {})
        defaults = defaults or await self.store.member_settings(member.id)  # /imagine has read them already
        if defaults.delivery == "private":
            chat_ref["private"] = True
        if place is not None and place.nsfw_channel:
            chat_ref["nsfw_channel"] = True
        recipe = {**jobs.to_dict(request), "init_image": None, "compare_with": None, "action": action, "parent": parent,
                  "profiles": list(profiles or [])}
        job_id = await self._record_and_enqueue(
            member, JobKind.GENERATE, who.platform, chat_ref, request.prompt, jobs.GENERATE_JOB, jobs.to_dict(request),
            recipe=recipe, scope=place.scope if place else None,
        )
        position = await self.queue.position(job_id)
        alive = await self.queue.workers_alive()
        text = messages.queued(position, alive, personalised, ONBOARD_COMMAND.get(who.platform, "/start"))
        return Submitted(job_id, position, alive, personalised, request, text, private=bool(chat_ref.get("private")))

    async def _record_and_enqueue(
        self, member: Member, kind: JobKind, platform: str, chat_ref: dict, prompt: str, function: str, payload: dict,
        *, recipe: dict | None = None, scope: str | None = None,
    ) -> str:
        job_id = f"{kind}-{member.id}-{int(time.time() * 1000)}-{secrets.token_hex(3)}"
        record = JobRecord(job_id, member.id, kind, platform, chat_ref, prompt, JobState.QUEUED, request=recipe or {},
                           scope=scope)
        await self.store.record_job(record)
        try:
            await self.queue.enqueue(function, payload, job_id=job_id)
        except ViperError as e:
            await self.store.update_job(job_id, JobState.FAILED, error=e.message)
            raise
        return job_id

    async def follow(self, job_id: str, on_update: Callable | None = None) -> Delivery:
        """Wait for a generation job, reporting queue position and steps; returns what to post."""

        async def relay(status: str, progress: Progress | None, position: int | None) -> None:
            if on_update is not None:
                # arq keeps a running job in its queue until it ends: that is no place in line.
                place = position if status == "queued" else None
                step, total = (progress.step, progress.total) if progress else (None, None)
                await on_update(Update(status, place, step, total))

        try:
            raw = await self.queue.wait(
                job_id, timeout=self.settings.bot.job_timeout_s, on_update=relay,
                update_interval=self.settings.bot.progress_interval_s,
            )
        except JobCancelled as e:
            await self.store.update_job(job_id, JobState.CANCELLED, error=e.message)
            raise
        except ViperError as e:
            await self.store.update_job(job_id, JobState.FAILED, error=e.message)
            raise
        result = jobs.from_dict(jobs.GenerateResult, raw)
        record = await self.store.job(job_id)
        if record is None:
            raise JobCancelled("the image was deleted with its member's data")
        handling = self.safety_handling(record, result)
        if handling == "withhold":
            await self.store.update_job(job_id, JobState.FAILED, error="withheld by the image safety check")
            raise ViperError(messages.WITHHELD_REASON)
        if record.member_id is not None:
            await self.keep_result(job_id, record.member_id, result)
        await self.store.update_job(job_id, JobState.DONE)
        caption = self.caption(record.prompt, result, record.request.get("action", "imagine"))
        return Delivery(job_id, result, caption, self.result_notes(result), result_rows(job_id, result.method),
                        private=bool(record.chat_ref.get("private")), spoiler=handling == "spoiler",
                        platform=record.platform)

    def safety_handling(self, record: JobRecord, result: jobs.GenerateResult) -> str:
        """What `[moderation] nsfw_policy` does with an image the worker's safety check flagged:
        "post" (not flagged, or an age-restricted Discord channel under `nsfw_channels`), "spoiler"
        or "withhold"."""
        if not result.nsfw:
            return "post"
        policy = self.settings.moderation.nsfw_policy
        if policy == "spoiler" or (policy == "nsfw_channels" and record.platform != "discord"):
            return "spoiler"
        if policy == "nsfw_channels" and record.chat_ref.get("nsfw_channel"):
            return "post"
        return "withhold"

    async def deliver(self, job_id: str, out: JobOutput, submitted: Submitted | None = None, *, shown: str = "") -> bool:
        """Follow a job to its image and post it through `out`; True once it is delivered.

        `submitted` is what `submit_imagine` answered (its status text is what the message says
        now, its queue position is already announced, and its tip stays under every progress
        line); without it, `shown` is what the status message says. An edit that would not change
        the text is skipped.
        """
        queued_at, footer = None, ""
        if submitted is not None:
            shown, queued_at = submitted.text, submitted.position
            _, _, rest = submitted.text.partition("\n")
            footer = "\n" + rest if rest else ""
        last = shown

        async def on_update(update: Update) -> None:
            nonlocal last
            if update.status == "queued" and queued_at is not None and update.position == queued_at:
                return
            held = update.status == "held"  # a paused server's job waits in the line (JobQueue.hold)
            text = (messages.HELD_LINE if held else messages.progress(update.step, update.total, update.position)) + footer
            if text != last and await out.status(text):
                last = text

        try:
            delivery = await self.follow(job_id, on_update)
        except ViperError as e:
            log.info("job %s ended without an image: %s", job_id, e.message)
            text = messages.friendly(e)
            if not await out.status(text, final=True):
                await out.text(text)
            return False
        try:
            posted = await out.image(delivery)
            if not posted:
                return False  # a passing failure: the record stays 'done' and the next start retries
        except DeliveryRefused as e:
            log.warning("cannot deliver job %s: %s", job_id, e)
            await self.store.update_job(job_id, JobState.FAILED, error=f"the platform refused the image: {e}")
            return False
        if isinstance(posted, Posted) and posted.message_id:
            await self.store.remember_result_message(delivery.platform, posted.chat_id, posted.message_id, job_id)
        await self.delivered(job_id)
        await out.status(out.done_line, final=True)
        return True

    async def resume(self, platform: str, output_for: Callable[[JobRecord], JobOutput | None], spawn: Callable) -> int:
        """Follow again every `platform` job whose image never reached its member; returns how many.

        `output_for` builds the port for a job's stored chat reference (None: nowhere to deliver);
        `spawn` runs a coroutine in the background.
        """
        pending = await self.store.undelivered_jobs(platform)
        for job in pending:
            out = output_for(job)
            if out is None:
                await self.store.update_job(job.id, JobState.FAILED, error="no chat to deliver to")
                continue
            resume = self._resume_one if job.kind == JobKind.GENERATE else self._resume_extraction
            spawn(resume(job, out), f"viper-resume-{job.id}")
        if pending:
            log.info("resuming delivery of %d image(s) on %s", len(pending), platform)
        return len(pending)

    async def _resume_one(self, job: JobRecord, out: JobOutput) -> None:
        # We don't know what the status message says now; this line differs from any progress text.
        if not await out.status(messages.RESUMED_LINE):
            await out.new_status(messages.RESUMED_LINE)
        await self.deliver(job.id, out, shown=messages.RESUMED_LINE)

    async def _resume_extraction(self, job: JobRecord, out: JobOutput) -> None:
        try:
            profile = await self.complete_extraction(job.id, job.member_id)
        except ViperError as e:
            log.info("extraction %s ended without a profile: %s", job.id, e.message)
            await out.text(messages.friendly(e))
            return
        await out.profile_ready(profile)

    async def cancel_image(self, who: MemberRef, job_id: str) -> bool:
        """Stop one of the member's own /imagine jobs: dropped if still queued, stopped at the next step
        if running. False when it has already ended (the image is on its way or failed). Whoever follows
        the job then sees it end with JobCancelled."""
        record = await self.store.job(job_id)
        member = await self.known_member(who)
        if record is None or member is None or record.member_id != member.id or record.kind != JobKind.GENERATE:
            raise NotYours("that image isn't one of yours", argument="job")
        if record.status != JobState.QUEUED:
            return False
        await self.queue.cancel(job_id)
        return True

    async def delivered(self, job_id: str) -> None:
        await self.store.update_job(job_id, JobState.DELIVERED)

    async def set_chat_ref(self, job_id: str, chat_ref: dict) -> None:
        """Remember where a job's status message lives (so a restarted bot can edit it); the keys
        given replace those stored, the others are kept."""
        record = await self.store.job(job_id)
        if record is not None:
            await self.store.update_job(job_id, record.status, chat_ref={**record.chat_ref, **chat_ref})

    def caption(self, prompt: str, result: jobs.GenerateResult, action: str = "imagine") -> str:
        return messages.caption(prompt, is_personalised(result), result.seed, result.width, result.height,
                                result.steps, action)

    def result_notes(self, result: jobs.GenerateResult) -> list[str]:
        notes = []
        if result.is_tiny:
            notes.append(messages.TINY_MODEL_NOTE)
        if result.prompt_truncated:
            notes.append(messages.PROMPT_CUT_NOTE)
        return notes
