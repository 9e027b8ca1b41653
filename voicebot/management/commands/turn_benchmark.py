"""``manage.py turn_benchmark``: turn-taking on the PCM endpoint, measured like a caller
(see ``voicebot.turnbench``)."""
from __future__ import annotations

import asyncio

from django.core.management.base import BaseCommand, CommandError, CommandParser

from streaming.stats import format_ms
from voicebot import turnbench as tb
from voicebot import voicebench as vb
from voicebot.management.benchmarks import offline_server, write_result


class Command(BaseCommand):
    """Response time, barge-in stop time and false turns on /api/voicebot/pcm."""

    help = (
        "Start a Daphne server of this project with the offline engines (local LLM, Whisper, "
        "Piper; throwaway SQLite) or use --url, and call its plain PCM endpoint like a phone "
        "(20 ms frames in real time, speech by Piper), one turn per connection: end of "
        "speech to first answer audio (target p50 <= 1 s), barge-in stop time (speech "
        "start to the answer's last frame received; target p90 <= 300 ms), and false turns "
        "on 10 non-speech clips and on the bot's own voice fed back (target 0). Prints the "
        "rows and the verdicts; --output writes the JSON result."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """The options (see ``--help``)."""
        parser.add_argument("--responses", type=int, default=10,
                            help="questions for the response time (default 10)")
        parser.add_argument("--barge-ins", type=int, default=10,
                            help="barge-ins (default 10)")
        parser.add_argument("--url", help="ws://host:port of a running server (default: "
                                          "start one here)")
        parser.add_argument("--output", help="write the JSON result here")

    def handle(self, *args: object, **opts: object) -> None:
        """Run the calls, print, write."""
        responses, barge_ins, url = int(opts["responses"]), int(opts["barge_ins"]), opts["url"]
        if responses < 1 or barge_ins < 1:
            raise CommandError("--responses and --barge-ins must be at least 1")
        if url and not str(url).startswith(("ws://", "wss://")):
            raise CommandError("--url must be ws://host:port or wss://host:port")
        speaker = vb.piper_tts()

        async def speak(texts: list[str]) -> dict[str, bytes]:
            return await vb.speak(texts, speaker)

        def measure(server_url: str) -> dict:
            return asyncio.run(tb.run(tb.websocket_dial(server_url), speak,
                                      responses=responses, barge_ins=barge_ins,
                                      progress=self.stderr.write))
        try:
            if url:
                result = measure(str(url))
            else:
                with offline_server(self.stderr.write) as server:
                    result = measure(server.url)
        except KeyboardInterrupt:
            raise CommandError("interrupted") from None
        result["machine"] = vb.machine_info()
        self.report(result)
        if opts["output"]:
            write_result(opts["output"], result)

    def report(self, result: dict) -> None:
        """The summaries against their targets."""
        w, met, t = self.stdout.write, result["met"], result["targets"]
        m = result["machine"]
        w(f"\nturn-taking benchmark: {m['nproc']} cores, {m['cpu_model']}")
        r, b = result["response"], result["barge_in"]
        w(f"end of speech -> first audio: p50 {format_ms(r['p50_ms'])} ms, p90 "
          f"{format_ms(r['p90_ms'])} ms (n {r['n']}, failed {r['failed']}); target p50 <= "
          f"{t['response_p50_ms']:g} ms: {'met' if met['response_p50'] else 'NOT met'}")
        w(f"barge-in stop time: p50 {format_ms(b['p50_ms'])} ms, p90 {format_ms(b['p90_ms'])}"
          f" ms (n {b['n']}, failed {b['failed']}, all cleared and answered: "
          f"{b['all_cleared_and_answered']}); target p90 <= {t['barge_in_stop_p90_ms']:g} "
          f"ms: {'met' if met['barge_in_stop_p90'] else 'NOT met'}")
        rows = result["rows"]["false_turns"]
        clips = ", ".join(f"{x['case']} {x['user_turns']}" for x in rows)
        w(f"false turns: {result['false_turns']} in {len(rows)} clips ({clips}); target 0: "
          f"{'met' if met['false_turns'] else 'NOT met'}")
