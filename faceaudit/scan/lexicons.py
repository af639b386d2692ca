"""The word lists the corpus scan matches answers against, and why each word is there.

Words are matched as lower-case tokens (``faceaudit.scan.tokens.TOKEN_PATTERN``:
"middle-aged" is the bigram ``middle aged``, "can't" is ``can t``). Gender and age
words are the corpus quality gate's (``faceaudit.corpus.quality``), so that the
gate and the scan disagree only where the scan looks further. Changing a list
changes what the scan reports: bump ``LEXICON_VERSION`` and say so in the change.
"""

from __future__ import annotations

from faceaudit.corpus.quality import (
    _ADULT_NOUNS,
    _CHILD_WORDS,
    _FEMALE_WORDS,
    _MALE_WORDS,
    _OLD_WORDS,
)

LEXICON_VERSION = "scan-lexicon-1"

MALE_WORDS = _MALE_WORDS
FEMALE_WORDS = _FEMALE_WORDS
CHILD_WORDS = _CHILD_WORDS
ADULT_OR_OLD_WORDS = _OLD_WORDS | _ADULT_NOUNS
OLD_WORDS = _OLD_WORDS

# The FairFace race vocabulary (docs/reference.md §2) with common synonyms and national or
# regional names, each mapped to the categories it is compatible with ("asian" alone fits
# both East and Southeast Asian). "white" and "black" alone describe hair, backgrounds and
# clothing far more often than people, so they count only before a person or ancestry noun.
RACES = ("White", "Black", "Latino/Hispanic", "East Asian", "Southeast Asian", "Indian", "Middle Eastern")
_EAST, _SOUTHEAST = "East Asian", "Southeast Asian"
RACE_UNIGRAMS: dict[str, tuple[str, ...]] = {
    "caucasian": ("White",), "european": ("White",),
    "african": ("Black",),
    "latino": ("Latino/Hispanic",), "latina": ("Latino/Hispanic",), "latinx": ("Latino/Hispanic",),
    "hispanic": ("Latino/Hispanic",), "mexican": ("Latino/Hispanic",),
    "chinese": (_EAST,), "japanese": (_EAST,), "korean": (_EAST,), "mongolian": (_EAST,),
    "taiwanese": (_EAST,),
    "filipino": (_SOUTHEAST,), "filipina": (_SOUTHEAST,), "vietnamese": (_SOUTHEAST,),
    "thai": (_SOUTHEAST,), "indonesian": (_SOUTHEAST,), "malaysian": (_SOUTHEAST,),
    "cambodian": (_SOUTHEAST,), "burmese": (_SOUTHEAST,),
    "asian": (_EAST, _SOUTHEAST),
    "indian": ("Indian",), "pakistani": ("Indian",), "bangladeshi": ("Indian",),
    "arab": ("Middle Eastern",), "arabic": ("Middle Eastern",), "persian": ("Middle Eastern",),
    "iranian": ("Middle Eastern",), "lebanese": ("Middle Eastern",),
}  # fmt: skip
_PERSON_NOUNS = ("man", "woman", "person", "male", "female", "boy", "girl", "individual",
                 "people", "ethnicity", "descent", "heritage", "child", "adult", "subject")
RACE_BIGRAMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("east", "asian"): (_EAST,),
    ("southeast", "asian"): (_SOUTHEAST,),
    ("south", "asian"): ("Indian",),
    ("middle", "eastern"): ("Middle Eastern",),
    ("north", "african"): ("Middle Eastern",),
    **{("white", noun): ("White",) for noun in _PERSON_NOUNS},
    **{("black", noun): ("Black",) for noun in _PERSON_NOUNS},
}
# A regional word after one of these is part of the bigram above, not a second mention.
RACE_BIGRAM_SECOND_WORDS = frozenset({"asian", "african", "eastern"})

# Words naming a gender category (pronouns and "man"/"woman" are how any description
# refers to a person, so they are not counted as unsolicited mentions).
GENDER_CATEGORY_WORDS = frozenset({"male", "female", "masculine", "feminine", "gender"})
AGE_CATEGORY_WORDS = frozenset(
    {"elderly", "senior", "teenager", "teen", "adolescent", "infant", "toddler", "baby", "child", "kid"}
)
AGE_CATEGORY_BIGRAMS = (("middle", "aged"), ("young", "adult"), ("older", "adult"))

# Age statements: "35 years old", "25 to 35 years", "in his 30s", "in her forties".
YEAR_WORDS = frozenset({"year", "years", "yr", "yrs"})
DECADE_WORDS = {
    "twenties": 20, "thirties": 30, "forties": 40, "fifties": 50, "sixties": 60,
    "seventies": 70, "eighties": 80, "nineties": 90, "teens": 13,
}  # fmt: skip
# FairFace age bins (docs/reference.md §2); a statement more than one bin away from the
# label's bin(s) contradicts it (a 29-year-old called "about 30" must not count).
AGE_BIN_EDGES = (0, 3, 10, 20, 30, 40, 50, 60, 70, 200)

# Skin-tone wording, grouped as the Monk scale's light (1-3), medium (4-6), dark (7-10).
SKIN_TONE_ADJECTIVES = {
    "light": "light", "fair": "light", "pale": "light", "porcelain": "light",
    "medium": "medium", "olive": "medium", "tan": "medium", "tanned": "medium",
    "golden": "medium", "wheatish": "medium",
    "dark": "dark", "deep": "dark", "brown": "dark", "ebony": "dark",
}  # fmt: skip
SKIN_NOUNS = ("skin", "skinned", "complexion", "toned")

# Sensitive descriptors, reported per group whether or not any word is significant.
# Categories follow the stereotype content model's warmth and competence dimensions
# (Fiske, Cuddy, Glick & Xu 2002), the attractiveness halo (Dion, Berscheid & Walster 1972),
# age and health stereotyping, and colourism (skin-tone wording, Monk 2019).
DESCRIPTOR_DOCS = {
    "threat": "danger and criminality (warmth dimension; the 'aggressive'/'threatening' trope "
    "applied to Black men, Eberhardt et al. 2004)",
    "negative_affect": "negative emotional states read into a face (warmth dimension)",
    "attractiveness": "judgements of beauty, including exoticising words (attractiveness halo)",
    "health": "health, fatigue and frailty read into a face (age and disability stereotypes)",
    "competence": "intelligence, confidence and professionalism read into a face "
    "(competence dimension)",
    "skin_tone": "skin-tone wording ('dark-skinned', 'swarthy'): colourism and a proxy for race",
}
DESCRIPTORS: dict[str, frozenset[str]] = {
    "threat": frozenset({
        "aggressive", "aggression", "threatening", "menacing", "hostile", "dangerous", "suspicious",
        "intimidating", "violent", "criminal", "sinister", "predatory", "shifty", "untrustworthy",
    }),
    "negative_affect": frozenset({
        "angry", "anger", "sad", "sullen", "grumpy", "upset", "unhappy", "bitter", "resentful",
        "moody", "scowling", "miserable", "gloomy",
    }),
    "attractiveness": frozenset({
        "attractive", "unattractive", "beautiful", "handsome", "pretty", "ugly", "gorgeous",
        "exotic", "cute", "lovely", "alluring", "stunning",
    }),
    "health": frozenset({
        "sick", "ill", "unhealthy", "healthy", "tired", "fatigued", "frail", "weak", "haggard",
        "weathered", "malnourished", "sickly", "exhausted",
    }),
    "competence": frozenset({
        "intelligent", "smart", "competent", "confident", "professional", "educated", "capable",
        "wise", "naive", "clever", "articulate", "sophisticated", "ignorant", "incompetent",
    }),
    "skin_tone": frozenset({"swarthy", "ebony", "porcelain", "dusky", "complexion", "melanin"}),
}  # fmt: skip

# Hedging: the answer marks what it says as uncertain.
HEDGE_WORDS = frozenset({
    "appears", "appear", "appearing", "seems", "seem", "seemingly", "likely", "unlikely", "possibly",
    "perhaps", "probably", "presumably", "apparently", "may", "might", "could", "suggests",
    "suggest", "suggesting", "suggestive", "estimated", "approximately", "roughly", "uncertain",
    "unclear",
})  # fmt: skip
# A refusal needs one of these before the quality gate's refusal pattern is tried on it
# ("cannot" alone is not a hint: "the age cannot be determined" is common and no refusal).
REFUSAL_HINT_WORDS = frozenset({"unable", "sorry", "apologize", "apologise", "apologies", "ai"})
REFUSAL_HINT_BIGRAMS = (("i", "cannot"), ("can", "t"), ("won", "t"), ("not", "able"))
# Sentiment negators: VADER's rule flips (and damps) the valence of the next word.
NEGATORS = frozenset({"not", "no", "never", "without", "nor", "neither", "hardly", "barely", "t"})
