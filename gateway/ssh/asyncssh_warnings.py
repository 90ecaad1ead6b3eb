"""asyncssh's import-time warnings, silenced before it is first imported (gateway/ssh/__init__).

asyncssh (2.24.1, the newest release) names cryptography's DSA key classes when it is
imported, and cryptography 46 and later answer each name with a CryptographyDeprecationWarning:
ten lines on every ``airlock up``. The gateway neither offers nor accepts DSA keys. The filter
matches that warning raised from asyncssh's own modules, nothing else.
"""

import warnings

from cryptography.utils import CryptographyDeprecationWarning

warnings.filterwarnings(
    "ignore", "DSA is deprecated", CryptographyDeprecationWarning, r"asyncssh\."
)
