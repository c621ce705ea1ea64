"""models/EVAL.md, "replies that say they agree or disagree": reply rows whose stance toward the
parent is said in so many words ("C'est faux", "Tout à fait d'accord", "Sciocchezze"), in six
languages, as stance rows that the reply task reads as parent → reply (`target` the parent,
`text` the reply; favor → agree, against → disagree, none → none). ../shared has no such
replies outside English and Danish threads, where most replies take no side; the default reply
model called French and Italian dismissals ("N'importe quoi, …") `agree`.

    python3 examples/reply_markers/make_markers.py train|test > OUT.jsonl

The markers and follow-ups of each language are split in two by hand: `train` rows use the
first list, `test` rows the held-out one (no phrase of a test row is in any training row), and
their parents come from different splits of UMSAB's positive and negative tweets (training
tweets for `train`, validation tweets for `test`), so a test row shares neither its wording nor its parent with
training. Seeded: the same split gives the same rows. A functional test in the manner of
HateCheck: it measures whether explicit markers are read, not how often replies take a side.
"""
import json
import random
import sys
from pathlib import Path

UMSAB = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sentiment" / "umsab"

# Per language and label: (training phrases, held-out phrases). Agree and disagree replies are a
# marker alone or a marker and a follow-up of the same side; none replies are questions and
# asides that take no side.
PHRASES = {
    "en": {
        "agree": (["Totally agree.", "Exactly this.", "Well said.", "Couldn't agree more.", "Yes, spot on.",
                   "You're absolutely right.", "This is the truth.", "100% with you on this.", "Agreed."],
                  ["So true.", "I was going to say the same thing.", "Right on.", "Precisely.", "Same here, I fully agree."]),
        "disagree": (["That's not true.", "Nonsense.", "I completely disagree.", "You're wrong.", "That's simply false.",
                      "Rubbish.", "No, that's not how it works.", "What a ridiculous claim.", "Wrong on every count."],
                     ["Absolutely not.", "That's a myth.", "I don't agree at all.", "You couldn't be more wrong.", "Utter garbage."]),
        "none": (["Does anyone have a link to the source?", "What time is the debate tonight?", "First time reading this site.",
                  "Can someone translate this?", "Weather is awful here today."],
                 ["Where was this published?", "Is there a video of it?", "Off topic, but happy new year everyone."]),
        "follow_agree": (["Nothing to add.", "It needed saying.", "Thank you for writing this."], ["Glad someone said it."]),
        "follow_disagree": (["The facts say otherwise.", "Check your sources.", "This has been debunked many times."],
                            ["The numbers show the opposite."]),
    },
    "fr": {
        "agree": (["Tout à fait d'accord.", "Exactement.", "Bien dit.", "Je suis entièrement d'accord avec vous.",
                   "Vous avez parfaitement raison.", "C'est la vérité.", "Je partage votre avis.", "Entièrement d'accord.",
                   "Je ne saurais mieux dire."],
                  ["Tellement vrai.", "J'allais écrire la même chose.", "Précisément.", "Vous avez raison sur toute la ligne.",
                   "Je suis d'accord à cent pour cent."]),
        "disagree": (["C'est faux.", "N'importe quoi.", "Je ne suis pas du tout d'accord.", "Vous vous trompez.",
                      "C'est complètement absurde.", "Foutaises.", "Non, ce n'est pas comme ça que ça marche.",
                      "Quelle affirmation ridicule.", "Vous racontez n'importe quoi."],
                     ["Absolument pas.", "C'est un mythe.", "Je ne suis pas d'accord.", "Vous avez tout faux.",
                      "Quelle bêtise."]),
        "none": (["Quelqu'un a le lien vers la source ?", "À quelle heure est le débat ce soir ?", "Première fois que je lis ce site.",
                  "Quelqu'un peut traduire ?", "Il fait un temps affreux ici aujourd'hui."],
                 ["Où est-ce que ça a été publié ?", "Il y a une vidéo ?", "Hors sujet, mais bonne année à tous."]),
        "follow_agree": (["Rien à ajouter.", "Il fallait le dire.", "Merci d'avoir écrit ça."], ["Enfin quelqu'un qui le dit."]),
        "follow_disagree": (["Les faits disent le contraire.", "Vérifiez vos sources.", "Ça a été démenti cent fois."],
                            ["Les chiffres montrent l'inverse."]),
    },
    "it": {
        "agree": (["Sono completamente d'accordo.", "Esattamente.", "Ben detto.", "Hai perfettamente ragione.",
                   "È la verità.", "Condivido in pieno.", "D'accordissimo.", "Non potrei essere più d'accordo.", "Giusto."],
                  ["Verissimo.", "Stavo per scrivere la stessa cosa.", "Proprio così.", "Hai ragione su tutta la linea.",
                   "Sono d'accordo al cento per cento."]),
        "disagree": (["Non è vero.", "Sciocchezze.", "Non sono affatto d'accordo.", "Ti sbagli.", "È completamente assurdo.",
                      "Stupidaggini.", "No, non funziona così.", "Che affermazione ridicola.", "Dici un sacco di fesserie."],
                     ["Assolutamente no.", "È un mito.", "Non sono d'accordo.", "Hai sbagliato tutto.", "Che idiozia."]),
        "none": (["Qualcuno ha il link alla fonte?", "A che ora è il dibattito stasera?", "Prima volta che leggo questo sito.",
                  "Qualcuno può tradurre?", "Qui oggi il tempo è orribile."],
                 ["Dove è stato pubblicato?", "C'è un video?", "Fuori tema, ma buon anno a tutti."]),
        "follow_agree": (["Niente da aggiungere.", "Bisognava dirlo.", "Grazie per averlo scritto."], ["Finalmente qualcuno lo dice."]),
        "follow_disagree": (["I fatti dicono il contrario.", "Controlla le tue fonti.", "È stato smentito cento volte."],
                            ["I numeri mostrano l'opposto."]),
    },
    "es": {
        "agree": (["Totalmente de acuerdo.", "Exacto.", "Bien dicho.", "Tienes toda la razón.", "Es la verdad.",
                   "Comparto tu opinión.", "De acuerdo al cien por cien.", "No podría estar más de acuerdo.", "Así es."],
                  ["Muy cierto.", "Iba a escribir lo mismo.", "Precisamente.", "Tienes razón en todo.", "Estoy completamente de acuerdo."]),
        "disagree": (["Eso es falso.", "Tonterías.", "No estoy nada de acuerdo.", "Te equivocas.", "Es completamente absurdo.",
                      "Mentira.", "No, así no funciona.", "Qué afirmación tan ridícula.", "Dices muchas tonterías."],
                     ["Para nada.", "Eso es un mito.", "No estoy de acuerdo.", "Estás totalmente equivocado.", "Qué estupidez."]),
        "none": (["¿Alguien tiene el enlace a la fuente?", "¿A qué hora es el debate esta noche?", "Primera vez que leo esta web.",
                  "¿Alguien puede traducirlo?", "Hoy hace un tiempo horrible aquí."],
                 ["¿Dónde se publicó esto?", "¿Hay un vídeo?", "Fuera de tema, pero feliz año a todos."]),
        "follow_agree": (["Nada que añadir.", "Había que decirlo.", "Gracias por escribir esto."], ["Por fin alguien lo dice."]),
        "follow_disagree": (["Los hechos dicen lo contrario.", "Revisa tus fuentes.", "Eso se ha desmentido mil veces."],
                            ["Los números muestran lo contrario."]),
    },
    "pt": {
        "agree": (["Concordo totalmente.", "Exatamente.", "Bem dito.", "Você tem toda a razão.", "É a verdade.",
                   "Compartilho da sua opinião.", "Concordo cem por cento.", "Não poderia concordar mais.", "Isso mesmo."],
                  ["Muito verdade.", "Ia escrever a mesma coisa.", "Precisamente.", "Tem razão em tudo.", "Estou completamente de acordo."]),
        "disagree": (["Isso é falso.", "Bobagem.", "Discordo completamente.", "Você está errado.", "É completamente absurdo.",
                      "Mentira.", "Não, não funciona assim.", "Que afirmação ridícula.", "Você só fala besteira."],
                     ["De jeito nenhum.", "Isso é um mito.", "Não concordo.", "Está totalmente enganado.", "Que estupidez."]),
        "none": (["Alguém tem o link da fonte?", "A que horas é o debate hoje?", "Primeira vez que leio este site.",
                  "Alguém pode traduzir?", "O tempo está horrível aqui hoje."],
                 ["Onde isso foi publicado?", "Tem vídeo?", "Fora do assunto, mas feliz ano novo a todos."]),
        "follow_agree": (["Nada a acrescentar.", "Precisava ser dito.", "Obrigado por escrever isso."], ["Finalmente alguém disse."]),
        "follow_disagree": (["Os fatos dizem o contrário.", "Confira suas fontes.", "Isso já foi desmentido mil vezes."],
                            ["Os números mostram o oposto."]),
    },
    "de": {
        "agree": (["Völlig richtig.", "Genau so ist es.", "Gut gesagt.", "Da hast du vollkommen recht.", "Das ist die Wahrheit.",
                   "Ich teile deine Meinung.", "Stimme voll zu.", "Dem ist nichts hinzuzufügen.", "Absolut einverstanden."],
                  ["So wahr.", "Wollte gerade dasselbe schreiben.", "Ganz genau.", "Du hast in allem recht.", "Ich stimme dir hundertprozentig zu."]),
        "disagree": (["Das stimmt nicht.", "Unsinn.", "Da bin ich ganz anderer Meinung.", "Du irrst dich.", "Das ist völlig absurd.",
                      "Quatsch.", "Nein, so funktioniert das nicht.", "Was für eine lächerliche Behauptung.", "Du redest Blödsinn."],
                     ["Auf keinen Fall.", "Das ist ein Mythos.", "Ich sehe das nicht so.", "Da liegst du völlig falsch.", "So ein Schwachsinn."]),
        "none": (["Hat jemand den Link zur Quelle?", "Wann ist die Debatte heute Abend?", "Zum ersten Mal auf dieser Seite.",
                  "Kann das jemand übersetzen?", "Das Wetter ist heute furchtbar hier."],
                 ["Wo wurde das veröffentlicht?", "Gibt es ein Video dazu?", "Off topic, aber allen ein frohes neues Jahr."]),
        "follow_agree": (["Mehr gibt es nicht zu sagen.", "Das musste mal gesagt werden.", "Danke, dass du das schreibst."],
                         ["Endlich sagt es mal jemand."]),
        "follow_disagree": (["Die Fakten sagen etwas anderes.", "Prüf mal deine Quellen.", "Das wurde hundertmal widerlegt."],
                            ["Die Zahlen zeigen das Gegenteil."]),
    },
}
LABELS = {"agree": "favor", "disagree": "against", "none": "none"}
# Rows per phrase: one parent each.
PARENTS_PER_PHRASE = {"train": 6, "test": 3}


def parents(lang, split):
    path = UMSAB / ("train.jsonl" if split == "train" else "valid.jsonl")
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    # Tweets that say something with feeling (positive or negative, not questions), as a
    # comment a reply can take a side on.
    return [r["text"] for r in rows
            if r["lang"] == lang and r["label"] != "neutral" and len(r["text"]) > 40 and "?" not in r["text"]]


def main(split):
    side = 0 if split == "train" else 1
    rng = random.Random(13 + side)
    for lang in sorted(PHRASES):
        phrases = PHRASES[lang]
        pool = parents(lang, split)
        for reply_class in ("agree", "disagree", "none"):
            follow = phrases.get(f"follow_{reply_class}", ([], []))[side]
            for i, phrase in enumerate(phrases[reply_class][side]):
                for j in range(PARENTS_PER_PHRASE[split]):
                    # Every other row of a marker carries a follow-up of the same side.
                    text = f"{phrase} {rng.choice(follow)}" if follow and j % 2 else phrase
                    row = {"id": f"markers-{split}-{lang}-{reply_class}-{i}-{j}", "target": rng.choice(pool),
                           "text": text, "label": LABELS[reply_class], "lang": lang}
                    print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("train", "test"):
        sys.exit(__doc__)
    main(sys.argv[1])
