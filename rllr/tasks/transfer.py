"""Classification sets outside GLUE/SuperGLUE.

- RLLR's other three tasks: MR, AGNews, AppReviews. Templates and label words are verbatim
  from RLLR Appendix A (A.1, A.2, A.8); Appendix A's ``\\n`` is a newline.
- The second paper's zero-shot transfer sets (section 5.4/5.5): Financial PhraseBank,
  Labelled Financial News (here the twitter financial-news sentiment set), Mental Health
  (here Dreaddit, a substitute), Emotion, SICK ("SIGA-nli"?; the NLI transfer from MNLI, so it
  reuses MNLI's prompts and label words) and Amazon 1-5 stars (instruction-following test of
  an SST-2 model). The paper does not print its prompts; ours follow section 4.1.

`app_reviews` is a stand-in for RLLR's AppReviews (see `shared/data/README.md`): Google Play
reviews with 1-5 stars, skewed toward 1 star.
"""

from __future__ import annotations

import dataclasses

from rllr.tasks.base import Task, TaskSpec, judgement_system, one_of
from rllr.tasks.glue import MNLI

NEG_POS = ("negative", "positive")
STARS = ("1", "2", "3", "4", "5")
AGNEWS = ("World politics", "Sports", "Business", "Science and technology")
EMOTIONS = ("sadness", "joy", "love", "anger", "fear", "surprise")  # dair-ai ids 0..5
STAR_KEYWORDS = {"1": ("one star", "1 star"), "2": ("two stars", "2 stars"), "3": ("three stars", "3 stars"),
                 "4": ("four stars", "4 stars"), "5": ("five stars", "5 stars")}


def _stars_system(what: str, background: str) -> str:
    return judgement_system(what, background, "a single integer rating: " + one_of(STARS))


MR = Task(TaskSpec(
    name="mr", kind="classification", folder="mr", fields=("text",),
    rllr_template="{text} What sentiment does the writer express for the movie?",
    judgement_system=judgement_system(
        "the sentiment of movie reviews",
        "The task (Movie Reviews, Pang & Lee) gives one sentence from a movie review; decide "
        "whether the writer's sentiment towards the movie is negative or positive.",
        one_of(NEG_POS)),
    judgement_user="Review: {text}",
    labels=NEG_POS, label_map={"0": "negative", "1": "positive"},
    metrics=("accuracy",), group="rllr", hub=("rotten_tomatoes",), sft_rows=2000,
    description="binary sentiment of movie-review sentences (rt-polarity)",
))

AG_NEWS = Task(TaskSpec(
    name="ag_news", kind="classification", folder="ag_news", fields=("text",),
    rllr_template="What label best describes this news article?\n{text}",
    judgement_system=judgement_system(
        "the topic of news articles",
        "The task (AG News) gives the title and first sentence of a news article; choose the "
        "topic that best describes it.",
        one_of(AGNEWS)),
    judgement_user="Article: {text}",
    labels=AGNEWS,
    label_map={"0": "World politics", "1": "Sports", "2": "Business", "3": "Science and technology",
               "World": "World politics", "Sci/Tech": "Science and technology"},
    keywords={"World politics": ("world", "politics"),
              "Science and technology": ("sci/tech", "science", "technology", "sci tech")},
    metrics=("accuracy", "macro_f1"), group="rllr", hub=("ag_news",),
    description="4-way news topic classification",
))

APP_REVIEWS = Task(TaskSpec(
    name="app_reviews", kind="classification", folder="app_reviews", fields=("text",),
    rllr_template="On a scale of 1-5 (with 1 being least favorable and 5 being most favorable), "
                  "how would you rate this review? \u201c{text}\u201d",
    judgement_system=_stars_system(
        "the star ratings of app reviews",
        "The task gives a user review of a mobile app; predict the star rating the user gave, "
        "on a scale of 1-5 (1 = least favorable, 5 = most favorable)."),
    judgement_user="Review: {text}",
    labels=STARS, keywords=STAR_KEYWORDS,
    metrics=("accuracy", "macro_f1"), group="rllr", hub=("app_reviews",),
    hub_fields={"review": "text", "star": "label"},
    description="1-5 star rating of app reviews (Google Play stand-in, skewed to 1 star)",
))

AMAZON_5STAR = Task(TaskSpec(
    name="amazon_5star", kind="classification", folder="amazon_5star", fields=("text",),
    rllr_template="On a scale of 1-5 (with 1 being least favorable and 5 being most favorable), "
                  "how would you rate this product review? \u201c{text}\u201d",
    judgement_system=_stars_system(
        "the star ratings of product reviews",
        "The task gives an Amazon product review (title immediately followed by body); predict "
        "the star rating the reviewer gave, from 1 (worst) to 5 (best)."),
    judgement_user="Review: {text}",
    labels=STARS, keywords=STAR_KEYWORDS,
    metrics=("accuracy", "macro_f1"), group="ood",
    description="Amazon 1-5 stars (USB dev/test, balanced); instruction-following transfer",
))

FINANCIAL_PHRASEBANK = Task(TaskSpec(
    name="financial_phrasebank", kind="classification", folder="financial_phrasebank",
    fields=("text",),
    rllr_template="Financial news sentence: {text} What sentiment does the sentence express "
                  "for the company or market? Choose one of the following labels: negative, "
                  "neutral, positive.",
    judgement_system=judgement_system(
        "the sentiment of financial news",
        "The task (Financial PhraseBank) gives one sentence from financial news; decide whether "
        "it is negative, neutral or positive news for the company or market it mentions.",
        one_of(("negative", "neutral", "positive"))),
    judgement_user="Sentence: {text}",
    labels=("negative", "neutral", "positive"),
    label_map={"0": "negative", "1": "neutral", "2": "positive"},  # hub ids
    metrics=("accuracy", "macro_f1"), group="ood", hub=("financial_phrasebank", "sentences_50agree"),
    hub_fields={"sentence": "text"},
    description="3-way financial sentiment (Sentences_50Agree)",
))

FIN_NEWS_SENTIMENT = Task(TaskSpec(
    name="fin_news_sentiment", kind="classification", folder="fin_news_sentiment", fields=("text",),
    rllr_template="Financial news headline: {text} What sentiment does the headline express for "
                  "the market? Choose one of the following labels: bearish, bullish, neutral.",
    judgement_system=judgement_system(
        "the sentiment of financial news headlines",
        "The task gives a finance news headline or tweet; decide whether it is bearish "
        "(negative for the market or stock), bullish (positive) or neutral.",
        one_of(("bearish", "bullish", "neutral"))),
    judgement_user="Headline: {text}",
    labels=("bearish", "bullish", "neutral"),
    label_map={"0": "bearish", "1": "bullish", "2": "neutral"},
    keywords={"bearish": ("negative",), "bullish": ("positive",)},
    metrics=("accuracy", "macro_f1"), group="ood",
    description="labelled financial news sentiment (twitter-financial-news stand-in)",
))

MENTAL_HEALTH = Task(TaskSpec(
    name="mental_health", kind="classification", folder="mental_health_dreaddit", fields=("text",),
    rllr_template="Reddit post: {text} Does the writer of this post express stress? "
                  "Choose one of the following labels: no, yes.",
    judgement_system=judgement_system(
        "the mental state expressed in social-media posts",
        "The task gives a Reddit post; decide whether its writer expresses psychological stress "
        "(yes) or not (no).",
        one_of(("no", "yes"))),
    judgement_user="Post: {text}",
    labels=("no", "yes"), label_map={"0": "no", "1": "yes"},
    keywords={"no": ("not stressed", "no stress", "not stress", "not_stress"),
              "yes": ("stressed", "stress")},
    metrics=("accuracy", "f1"), group="ood",
    description="stress detection in Reddit posts (Dreaddit, substitute for 'Mental Health')",
))

EMOTION = Task(TaskSpec(
    name="emotion", kind="classification", folder="emotion", fields=("text",),
    rllr_template="Tweet: {text} Which emotion does the writer express? Choose one of the "
                  "following labels: sadness, joy, love, anger, fear, surprise.",
    judgement_system=judgement_system(
        "the emotions expressed in short texts",
        "The task (CARER emotion) gives an English tweet; choose the main emotion its writer "
        "expresses.",
        one_of(EMOTIONS)),
    judgement_user="Tweet: {text}",
    labels=EMOTIONS, label_map={str(i): e for i, e in enumerate(EMOTIONS)},
    keywords={"sadness": ("sad",), "joy": ("happy", "happiness", "joyful"), "anger": ("angry",),
              "fear": ("afraid", "scared"), "surprise": ("surprised",)},
    metrics=("accuracy", "macro_f1"), group="ood", hub=("dair-ai/emotion",),
    description="6-way emotion classification of tweets",
))

SICK = Task(dataclasses.replace(
    MNLI.spec, name="sick", folder="sick", group="ood", hub=("sick",),
    hub_fields={"sentence_A": "text_a", "sentence_B": "text_b"},
    # hub `sick`: 0 entailment, 1 neutral, 2 contradiction (same as MNLI's ids)
    description="SICK NLI (ENTAILMENT/NEUTRAL/CONTRADICTION), MNLI prompts; NLI transfer set",
))
