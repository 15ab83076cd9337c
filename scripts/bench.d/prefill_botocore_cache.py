"""Put one assume-role answer into botocore's JSONFileCache, under the key
botocore itself computes for PROFILE, so that the benchmark's botocore run is
a cache hit, as the AWS CLI's second call of a profile is.

The credentials are those the strict local STS gave vegas in the warm-up
call (credential_process JSON on stdin), stored in the shape of the STS
AssumeRole response that botocore caches.

usage: python prefill_botocore_cache.py PROFILE CACHE_DIR < vegas-output.json
"""

import json
import sys

import botocore.session
from botocore.credentials import JSONFileCache


class NoMfaCode(Exception):
    """Raised instead of asking for a code: the cache must answer."""


def refuse_prompt(_prompt):
    raise NoMfaCode()


def frozen_credentials(profile, cache):
    """What the benchmark's one-liner does, with prompts refused."""
    session = botocore.session.Session(profile=profile)
    provider = session.get_component("credential_provider").get_provider("assume-role")
    provider.cache = cache
    provider._prompter = refuse_prompt
    return session.get_credentials().get_frozen_credentials()


class KeyRecorder(JSONFileCache):
    """A JSONFileCache that remembers the keys botocore looks up."""

    def __init__(self, working_dir):
        super().__init__(working_dir)
        self.keys = []

    def __contains__(self, cache_key):
        self.keys.append(cache_key)
        return super().__contains__(cache_key)


def main(profile, cache_dir):
    vegas = json.load(sys.stdin)
    recorder = KeyRecorder(cache_dir)
    try:
        frozen_credentials(profile, recorder)
        sys.exit(f"{cache_dir} already answers for {profile}")
    except NoMfaCode:
        pass  # a miss, as expected on an empty cache: now we know the key
    (key,) = set(recorder.keys)
    recorder[key] = {
        "Credentials": {
            "AccessKeyId": vegas["AccessKeyId"],
            "SecretAccessKey": vegas["SecretAccessKey"],
            "SessionToken": vegas["SessionToken"],
            "Expiration": vegas["Expiration"],
        },
        "AssumedRoleUser": {
            "AssumedRoleId": "AROAVEGASBENCH:botocore",
            "Arn": "arn:aws:sts::222222222222:assumed-role/Admin/botocore",
        },
    }
    hit = frozen_credentials(profile, JSONFileCache(cache_dir))
    if hit.access_key != vegas["AccessKeyId"]:
        sys.exit("botocore did not answer from the cache")


if __name__ == "__main__":
    main(*sys.argv[1:])
