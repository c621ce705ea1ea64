"""Comments that say where they stand in so many words, in six languages (en, fr, it, es, pt, de),
as stance rows (`target`, `text`, `label` favor / against / none, `lang`). Three kinds:

- `reply` (models/EVAL.md, "replies that say they agree or disagree"): replies to a parent
  ("C'est faux", "Tout à fait d'accord", "Sciocchezze"), which the reply task reads as parent →
  reply (`target` the parent, `text` the reply; favor → agree, against → disagree, none → none).
  ../shared has no such replies outside English and Danish threads, where most replies take no
  side; the default reply model called French and Italian dismissals ("N'importe quoi, …")
  `agree`. Parents are UMSAB's positive and negative tweets.
- `argued`: replies that say they agree or disagree and then argue ("N'importe quoi, les riches
  paient déjà assez."), which the default reply model called `agree`: it reads two texts on the
  same subject as agreement. The parent is a comment of a stance file that takes a side on its
  target; the reply is a `reply` marker and another comment on that target, of the same side
  under an agreeing marker and of the other side under a disagreeing one (E-FRA Macron in
  French, R-ITA in Italian, CIC in Spanish, SemEval-2016 in English, Wahl-O-Mat party answers
  in German; their train splits for `train`, their test splits for `test`). Agree and disagree
  rows only: whether the reply follows its marker, not whether it takes a side.
- `article` (models/EVAL.md, "comments that say where they stand toward the article"): comments
  on a news article that praise or damn the article itself ("Excellent article, merci.", "Quel
  torchon.", "Articolo vergognoso e fazioso."), under hand-written headlines. No stance file in
  ../shared has such comments; the default stance model called 12 of 14 of them `none`.

    python3 examples/markers/make_markers.py reply|argued|article train|test > OUT.jsonl

The markers and follow-ups of each language are split in two by hand: `train` rows use the
first list, `test` rows the held-out one (no phrase of a test row is in any training row), and
so are their targets: UMSAB's training tweets against its validation tweets for `reply`, the
stance files' train splits against their test splits for `argued`, the first six headlines of
each language against the other four for `article`. A test row shares
neither its wording nor its target with training. Seeded: the same split gives the same rows.
A functional test in the manner of HateCheck: it measures whether explicit markers are read,
not how often comments take a side.
"""
import functools
import json
import random
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
UMSAB = DATA / "sentiment" / "umsab"

# Per language and label: (training phrases, held-out phrases). Agree and disagree replies are a
# marker alone or a marker and a follow-up of the same side; none replies are questions and
# asides that take no side.
REPLY_PHRASES = {
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
# Per language and label, as for replies: comments on an article that praise it or agree with it,
# that damn it or disagree with it (alone or with a follow-up of the same side), and comments
# that take no side, some of them naming the article ("I'll read the article tonight").
ARTICLE_PHRASES = {
    "en": {
        "agree": (["Great article.", "Thanks for this article.", "Excellent piece, well researched.",
                   "Finally an article that tells it like it is.", "I fully agree with this article.",
                   "Brilliant reporting, well done.", "This article says it all.", "A fair and much needed article.",
                   "Spot-on piece."],
                  ["Superb article, thank you.", "Very accurate piece.", "I share the article's analysis.",
                   "Thanks for this work, it's exactly right.", "One of the best articles on the subject."]),
        "disagree": (["Ridiculous article.", "What a rag.", "Yet another propaganda piece.",
                      "I completely disagree with this article.", "Dishonest and biased article.",
                      "This article is a disgrace.", "Activist journalism, nothing more.",
                      "Sloppy article, full of errors.", "The author understood nothing about the subject."],
                     ["A one-sided hit piece, pathetic.", "What disinformation.", "I dispute everything written here.",
                      "This article completely misses the point.", "Gutter journalism."]),
        "none": (["Does anyone have the link to the study cited?", "I'll read the article tonight.", "First comment here.",
                  "The site is really slow today.", "What time is the report on TV?"],
                 ["Is the article available in French too?", "Haven't had time to read it yet.", "Have a nice day everyone."]),
        "follow_agree": (["It needed saying.", "Sharing this widely.", "Thanks to the reporter."], ["Forwarding to my friends."]),
        "follow_disagree": (["The facts say otherwise.", "Check your sources.", "I expect better from this paper."],
                            ["The numbers show the opposite."]),
    },
    "fr": {
        "agree": (["Excellent article.", "Merci pour cet article.", "Très bon article, bien documenté.",
                   "Enfin un article qui dit les choses.", "Je suis entièrement d'accord avec cet article.",
                   "Article remarquable, bravo au journaliste.", "Tout est dit dans cet article.",
                   "Un article juste et nécessaire.", "Bravo pour ce papier."],
                  ["Superbe article, merci.", "Article très juste.", "Je partage l'analyse de l'article.",
                   "Merci pour ce travail, c'est exactement ça.", "Un des meilleurs articles sur le sujet."]),
        "disagree": (["Article ridicule.", "Quel torchon.", "Encore un article de propagande.",
                      "Je ne suis pas du tout d'accord avec cet article.", "Article mensonger et partial.",
                      "Cet article est une honte.", "Du journalisme militant, rien de plus.",
                      "Article bâclé, plein d'erreurs.", "L'auteur n'a rien compris au sujet."],
                     ["Article à charge, lamentable.", "Quelle désinformation.", "Je conteste tout ce qui est écrit ici.",
                      "Un article complètement à côté de la plaque.", "Journalisme de caniveau."]),
        "none": (["Quelqu'un a le lien vers l'étude citée ?", "Je lirai l'article ce soir.", "Premier commentaire ici.",
                  "Le site est très lent aujourd'hui.", "À quelle heure passe le reportage ?"],
                 ["L'article est-il aussi disponible en anglais ?", "Je n'ai pas encore eu le temps de le lire.",
                  "Bonne journée à tous."]),
        "follow_agree": (["Il fallait le dire.", "À partager largement.", "Merci au journaliste."], ["Je transmets à mes amis."]),
        "follow_disagree": (["Les faits disent le contraire.", "Vérifiez vos sources.", "On attend mieux de ce journal."],
                            ["Les chiffres montrent l'inverse."]),
    },
    "it": {
        "agree": (["Ottimo articolo.", "Grazie per questo articolo.", "Articolo eccellente, ben documentato.",
                   "Finalmente un articolo che dice le cose come stanno.", "Sono pienamente d'accordo con questo articolo.",
                   "Gran bel pezzo, complimenti al giornalista.", "In questo articolo c'è tutto.",
                   "Un articolo giusto e necessario.", "Bravi, articolo centrato."],
                  ["Splendido articolo, grazie.", "Articolo molto giusto.", "Condivido l'analisi dell'articolo.",
                   "Grazie per il lavoro, è esattamente così.", "Uno dei migliori articoli sull'argomento."]),
        "disagree": (["Articolo ridicolo.", "Che porcheria di articolo.", "L'ennesimo articolo di propaganda.",
                      "Non sono per niente d'accordo con questo articolo.", "Articolo falso e fazioso.",
                      "Questo articolo è una vergogna.", "Giornalismo militante, niente di più.",
                      "Articolo scritto male, pieno di errori.", "L'autore non ha capito nulla."],
                     ["Articolo a senso unico, penoso.", "Che disinformazione.", "Contesto tutto quello che c'è scritto qui.",
                      "Un articolo completamente fuori strada.", "Giornalismo spazzatura."]),
        "none": (["Qualcuno ha il link allo studio citato?", "Leggerò l'articolo stasera.", "Primo commento qui.",
                  "Il sito oggi è lentissimo.", "A che ora va in onda il servizio?"],
                 ["L'articolo è disponibile anche in inglese?", "Non ho ancora avuto tempo di leggerlo.",
                  "Buona giornata a tutti."]),
        "follow_agree": (["Andava detto.", "Da condividere.", "Grazie al giornalista."], ["Lo giro ai miei amici."]),
        "follow_disagree": (["I fatti dicono il contrario.", "Controllate le fonti.", "Da questo giornale mi aspetto di meglio."],
                            ["I numeri dicono l'opposto."]),
    },
    "es": {
        "agree": (["Excelente artículo.", "Gracias por este artículo.", "Muy buen artículo, bien documentado.",
                   "Por fin un artículo que dice las cosas claras.", "Estoy totalmente de acuerdo con este artículo.",
                   "Gran reportaje, enhorabuena al periodista.", "Este artículo lo dice todo.",
                   "Un artículo justo y necesario.", "Bravo por este texto."],
                  ["Magnífico artículo, gracias.", "Artículo muy acertado.", "Comparto el análisis del artículo.",
                   "Gracias por el trabajo, es exactamente así.", "Uno de los mejores artículos sobre el tema."]),
        "disagree": (["Artículo ridículo.", "Qué panfleto.", "Otro artículo de propaganda.",
                      "No estoy nada de acuerdo con este artículo.", "Artículo falso y sesgado.",
                      "Este artículo es una vergüenza.", "Periodismo militante, nada más.",
                      "Artículo chapucero, lleno de errores.", "El autor no ha entendido nada."],
                     ["Artículo tendencioso, lamentable.", "Qué desinformación.", "Discrepo de todo lo que se dice aquí.",
                      "Un artículo que no da una.", "Periodismo basura."]),
        "none": (["¿Alguien tiene el enlace al estudio citado?", "Leeré el artículo esta noche.", "Primer comentario aquí.",
                  "La web va muy lenta hoy.", "¿A qué hora emiten el reportaje?"],
                 ["¿El artículo está también en inglés?", "Aún no he tenido tiempo de leerlo.", "Buen día a todos."]),
        "follow_agree": (["Había que decirlo.", "Para compartir.", "Gracias al periodista."], ["Se lo paso a mis amigos."]),
        "follow_disagree": (["Los hechos dicen lo contrario.", "Revisen sus fuentes.", "Espero más de este periódico."],
                            ["Los números muestran lo contrario."]),
    },
    "pt": {
        "agree": (["Excelente artigo.", "Obrigado por este artigo.", "Artigo muito bom, bem documentado.",
                   "Finalmente um artigo que diz as coisas como são.", "Concordo plenamente com este artigo.",
                   "Grande reportagem, parabéns ao jornalista.", "Este artigo diz tudo.",
                   "Um artigo justo e necessário.", "Parabéns pelo texto."],
                  ["Artigo excelente, obrigado.", "Artigo muito certeiro.", "Partilho da análise do artigo.",
                   "Obrigado pelo trabalho, é exatamente isso.", "Um dos melhores artigos sobre o assunto."]),
        "disagree": (["Artigo ridículo.", "Que lixo de artigo.", "Mais um artigo de propaganda.",
                      "Discordo totalmente deste artigo.", "Artigo mentiroso e tendencioso.",
                      "Este artigo é uma vergonha.", "Jornalismo militante, nada mais.",
                      "Artigo mal feito, cheio de erros.", "O autor não entendeu nada."],
                     ["Artigo parcial, lamentável.", "Que desinformação.", "Contesto tudo o que está escrito aqui.",
                      "Um artigo completamente equivocado.", "Jornalismo de sarjeta."]),
        "none": (["Alguém tem o link do estudo citado?", "Vou ler o artigo hoje à noite.", "Primeiro comentário aqui.",
                  "O site está muito lento hoje.", "A que horas passa a reportagem?"],
                 ["O artigo também está em inglês?", "Ainda não tive tempo de ler.", "Bom dia a todos."]),
        "follow_agree": (["Precisava ser dito.", "Para compartilhar.", "Obrigado ao jornalista."],
                         ["Vou mandar para os meus amigos."]),
        "follow_disagree": (["Os fatos dizem o contrário.", "Verifiquem as fontes.", "Espero mais deste jornal."],
                            ["Os números mostram o contrário."]),
    },
    "de": {
        "agree": (["Toller Artikel.", "Danke für diesen Artikel.", "Sehr guter, gut recherchierter Artikel.",
                   "Endlich ein Artikel, der Klartext redet.", "Ich stimme dem Artikel voll zu.",
                   "Starker Beitrag, Kompliment an den Journalisten.", "Dieser Artikel sagt alles.",
                   "Ein fairer und notwendiger Artikel.", "Bravo für diesen Text."],
                  ["Hervorragender Artikel, danke.", "Sehr treffender Artikel.", "Ich teile die Analyse des Artikels.",
                   "Danke für die Arbeit, genau so ist es.", "Einer der besten Artikel zum Thema."]),
        "disagree": (["Lächerlicher Artikel.", "Was für ein Schmierblatt.", "Schon wieder ein Propagandaartikel.",
                      "Ich bin mit diesem Artikel überhaupt nicht einverstanden.", "Verlogener und einseitiger Artikel.",
                      "Dieser Artikel ist eine Schande.", "Haltungsjournalismus, nichts weiter.",
                      "Schlampiger Artikel voller Fehler.", "Der Autor hat nichts verstanden."],
                     ["Einseitiger Artikel, erbärmlich.", "Was für eine Desinformation.",
                      "Ich widerspreche allem, was hier steht.", "Ein Artikel völlig am Thema vorbei.", "Gossenjournalismus."]),
        "none": (["Hat jemand den Link zur zitierten Studie?", "Ich lese den Artikel heute Abend.", "Erster Kommentar hier.",
                  "Die Seite ist heute sehr langsam.", "Wann läuft der Bericht im Fernsehen?"],
                 ["Gibt es den Artikel auch auf Englisch?", "Ich hatte noch keine Zeit, ihn zu lesen.",
                  "Allen einen schönen Tag."]),
        "follow_agree": (["Das musste gesagt werden.", "Unbedingt teilen.", "Danke an den Journalisten."],
                         ["Leite ich an Freunde weiter."]),
        "follow_disagree": (["Die Fakten sagen etwas anderes.", "Prüft eure Quellen.", "Von dieser Zeitung erwarte ich mehr."],
                            ["Die Zahlen zeigen das Gegenteil."]),
    },
}
# Hand-written headlines, the same ten stories in each language: six for training rows, four for
# test rows.
HEADLINES = {
    "en": (["Why a four-day week makes sense", "Government unveils tough new budget",
            "The city should ban cars from its centre", "Nuclear power is back on the agenda",
            "Universities raise tuition fees again", "What the new immigration rules mean for you"],
           ["Schools should ban smartphones", "Electricity prices set to rise again",
            "Remote work: companies reverse course", "Farmers protest against new EU rules"]),
    "fr": (["Pourquoi la semaine de quatre jours est une bonne idée", "Le gouvernement présente un budget de rigueur",
            "Le centre-ville doit être fermé aux voitures", "Le nucléaire revient dans le débat",
            "Les universités augmentent encore leurs frais d'inscription",
            "Ce que changent les nouvelles règles sur l'immigration"],
           ["L'école doit interdire les téléphones portables", "Le prix de l'électricité va encore augmenter",
            "Télétravail : les entreprises font marche arrière", "Les agriculteurs manifestent contre les normes européennes"]),
    "it": (["Perché la settimana corta conviene", "Il governo presenta una manovra di rigore",
            "Il centro città va chiuso alle auto", "Torna il dibattito sul nucleare",
            "Università, aumentano ancora le tasse", "Cosa cambia con le nuove regole sull'immigrazione"],
           ["Vietare gli smartphone a scuola", "Bollette, in arrivo nuovi aumenti",
            "Smart working, le aziende fanno marcia indietro", "Agricoltori in piazza contro le regole europee"]),
    "es": (["Por qué la semana de cuatro días tiene sentido", "El Gobierno presenta unos presupuestos de austeridad",
            "Hay que cerrar el centro de la ciudad a los coches", "La energía nuclear vuelve al debate",
            "Las universidades vuelven a subir las tasas", "Qué cambia con las nuevas normas de inmigración"],
           ["Prohibir los móviles en los colegios", "La luz volverá a subir",
            "Teletrabajo: las empresas dan marcha atrás", "Los agricultores protestan contra las normas europeas"]),
    "pt": (["Por que a semana de quatro dias faz sentido", "Governo apresenta orçamento de austeridade",
            "O centro da cidade deve ser fechado aos carros", "A energia nuclear volta ao debate",
            "Universidades voltam a aumentar as propinas", "O que muda com as novas regras de imigração"],
           ["Proibir os telemóveis nas escolas", "A eletricidade vai voltar a subir",
            "Teletrabalho: empresas recuam", "Agricultores protestam contra regras europeias"]),
    "de": (["Warum die Vier-Tage-Woche sinnvoll ist", "Regierung legt Sparhaushalt vor",
            "Die Innenstadt muss autofrei werden", "Atomkraft wieder auf der Tagesordnung",
            "Universitäten erhöhen erneut die Gebühren", "Was die neuen Einwanderungsregeln bedeuten"],
           ["Handyverbot an Schulen", "Strompreise steigen erneut",
            "Homeoffice: Firmen rudern zurück", "Bauern protestieren gegen EU-Regeln"]),
}
LABELS = {"agree": "favor", "disagree": "against", "none": "none"}
# Rows per phrase: one target each.
TARGETS_PER_PHRASE = {"train": 6, "test": 3}


def read_rows(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def umsab_parents(lang, split):
    rows = read_rows(UMSAB / ("train.jsonl" if split == "train" else "valid.jsonl"))
    # Tweets that say something with feeling (positive or negative, not questions), as a
    # comment a reply can take a side on.
    return [r["text"] for r in rows
            if r["lang"] == lang and r["label"] != "neutral" and len(r["text"]) > 40 and "?" not in r["text"]]


# The stance file whose comments argue the `argued` replies, per language: (train, test). Of
# E-FRA's and R-ITA's train files only the first 85 % of lines are read. That is not their
# validation part (`#part=85-100` picks rows by the hash of their id, models/valid-sets.sh):
# 54 of E-FRA's 63 and 82 of R-ITA's 99 validation rows lie in those lines, so `argued train`
# quotes them. Only reply models train on these rows, and none is chosen on those stance files;
# the slice stays as it is because the shipped reply-statements-argued was trained on its rows.
ARGUED_SOURCES = {
    "en": ("stance/semeval2016/train.jsonl", "stance/semeval2016/test.jsonl"),
    "fr": ("stance/efra-macron/train.jsonl", "stance/efra-macron/test.jsonl"),
    "it": ("stance/rit-referendum/train.jsonl", "stance/rit-referendum/test.jsonl"),
    "es": ("stance/cic/train.jsonl", "stance/cic/test.jsonl"),
    "de": ("stance/wahlomat-de/train.jsonl", "stance/wahlomat-de/test.jsonl"),
}
ARGUED_ROWS_PER_PHRASE = {"train": 6, "test": 3}
MAX_ARGUMENT_CHARS = 280
OTHER_SIDE = {"favor": "against", "against": "favor"}


def sided_comments(lang, split):
    """The comments of the language's stance file that take a side, grouped by target and side."""
    rows = read_rows(DATA / ARGUED_SOURCES[lang][split != "train"])
    if split == "train" and lang in ("fr", "it"):
        rows = rows[: len(rows) * 85 // 100]
    by_target = {}
    for r in rows:
        if r["lang"] == lang and r["label"] in ("favor", "against") and len(r["text"]) <= MAX_ARGUMENT_CHARS:
            sides = by_target.setdefault(r.get("target_id", r["target"]), {"favor": [], "against": []})
            sides[r["label"]].append(r["text"])
    return [sides for sides in by_target.values() if sides["favor"] and sides["against"]]


def reply_with_argument(marker, argument, joined, lang):
    """The marker, then the argument: as two sentences, or joined by a comma ("C'est faux, ça …";
    German nouns keep their capital)."""
    if joined and marker.endswith("."):
        first = argument[:1] if lang == "de" else argument[:1].lower()
        return f"{marker[:-1]}, {first}{argument[1:]}"
    return f"{marker} {argument}"


def argued(split):
    """Prints the `argued` rows of the split."""
    side = 0 if split == "train" else 1
    rng = random.Random(213 + side)
    for lang in sorted(ARGUED_SOURCES):
        targets = sided_comments(lang, split)
        for label in ("agree", "disagree"):
            for i, marker in enumerate(REPLY_PHRASES[lang][label][side]):
                for j in range(ARGUED_ROWS_PER_PHRASE[split]):
                    sides = rng.choice(targets)
                    parent_side = rng.choice(("favor", "against"))
                    reply_side = parent_side if label == "agree" else OTHER_SIDE[parent_side]
                    parent = rng.choice(sides[parent_side])
                    argument = rng.choice([t for t in sides[reply_side] if t != parent] or sides[reply_side])
                    row = {"id": f"argued-{split}-{lang}-{label}-{i}-{j}", "target": parent,
                           "text": reply_with_argument(marker, argument, j % 2 == 1, lang), "label": LABELS[label],
                           "lang": lang}
                    print(json.dumps(row, ensure_ascii=False))


# Per kind: its phrase table, its targets per language and split, the prefix of its row ids and
# the seed of its draws (the reply rows are those of the first version of this script).
KINDS = {
    "reply": (REPLY_PHRASES, umsab_parents, "markers", 13),
    "article": (ARTICLE_PHRASES, lambda lang, split: HEADLINES[lang][split != "train"], "article-markers", 113),
}


def markers(kind, split):
    """Prints the rows of a kind of KINDS for the split."""
    table, targets, prefix, seed = KINDS[kind]
    side = 0 if split == "train" else 1
    rng = random.Random(seed + side)
    for lang in sorted(table):
        phrases = table[lang]
        pool = targets(lang, split)
        for label in ("agree", "disagree", "none"):
            follow = phrases.get(f"follow_{label}", ([], []))[side]
            for i, phrase in enumerate(phrases[label][side]):
                for j in range(TARGETS_PER_PHRASE[split]):
                    # Every other row of a marker carries a follow-up of the same side.
                    text = f"{phrase} {rng.choice(follow)}" if follow and j % 2 else phrase
                    row = {"id": f"{prefix}-{split}-{lang}-{label}-{i}-{j}", "target": rng.choice(pool),
                           "text": text, "label": LABELS[label], "lang": lang}
                    print(json.dumps(row, ensure_ascii=False))


WRITERS = {**{kind: functools.partial(markers, kind) for kind in KINDS}, "argued": argued}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in WRITERS or sys.argv[2] not in ("train", "test"):
        sys.exit(__doc__)
    WRITERS[sys.argv[1]](sys.argv[2])
