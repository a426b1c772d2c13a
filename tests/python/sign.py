"""Prints the X-Twilio-Signature twilio-python computes for a URL and form parameters, so the
capture tests check signatures made by Twilio's own helper library, not by taskhook.

    TOKEN=… python3 tests/python/sign.py https://abc.ngrok-free.app/assignment Key=Value …
"""

import os
import sys

from twilio.request_validator import RequestValidator


def main() -> None:
    url, pairs = sys.argv[1], sys.argv[2:]
    params = dict(pair.split("=", 1) for pair in pairs)
    print(RequestValidator(os.environ["TOKEN"]).compute_signature(url, params))


if __name__ == "__main__":
    main()
