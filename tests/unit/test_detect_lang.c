/* test_detect_lang.c - the detector's function words in every language it knows: clean prose in
 * each reads as language, not as token salad (after English prose it makes no turn), and a
 * trigger followed by salad after prose in each is found and named (the window before it is
 * language, which it is not without the language's function words). The paragraphs were written
 * for this test, one per language, on one theme (a town by a river). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/detect.h"

struct lang {
    const char *name;
    const char *text; /* UTF-8 */
};

static const char english[] =
    "The town lies on the bank of the river, and for centuries its people have lived from the "
    "trade with the countries nearby. In the old centre there are many churches and palaces that "
    "date from the Middle Ages, but also modern houses that were built after the war. Whoever "
    "visits the town for the first time can walk along the narrow streets and stop in one of the "
    "squares, where people meet in the evening to talk and to drink a coffee.";

static const struct lang langs[] = {
    {"German",
     "Die Stadt liegt am Ufer des Flusses, und seit Jahrhunderten leben ihre Bewohner vom "
     "Handel mit den Nachbarländern. In der Altstadt gibt es viele Kirchen und Paläste, "
     "die aus dem Mittelalter stammen, aber auch moderne Häuser, die nach dem Krieg "
     "gebaut wurden. Wer die Stadt zum ersten Mal besucht, kann durch die engen Gassen "
     "spazieren und auf einem der Plätze stehen bleiben, wo sich die Leute am Abend "
     "treffen, um zu reden und einen Kaffee zu trinken."},
    {"French", "La ville se trouve sur la rive du fleuve, et depuis des siècles ses habitants "
               "vivent du commerce avec les pays voisins. Dans le vieux centre il y a beaucoup "
               "d'églises et de palais qui datent du Moyen Âge, mais aussi des maisons modernes "
               "construites après la guerre. Celui qui visite la ville pour la première fois peut "
               "se promener dans les rues étroites et s'arrêter sur une des places, où les gens "
               "se retrouvent le soir pour parler et boire un café."},
    {"Spanish",
     "La ciudad está en la orilla del río, y desde hace siglos sus habitantes viven del "
     "comercio con los países vecinos. En el centro antiguo hay muchas iglesias y "
     "palacios que son de la Edad Media, pero también casas modernas construidas después "
     "de la guerra. Quien visita la ciudad por primera vez puede pasear por las calles "
     "estrechas y detenerse en una de las plazas, donde la gente se reúne por la tarde "
     "para hablar y tomar un café."},
    {"Italian",
     "La città si trova sulla riva del fiume, e da secoli i suoi abitanti vivono del "
     "commercio con i paesi vicini. Nel centro storico ci sono molte chiese e palazzi che "
     "risalgono al Medioevo, ma anche case moderne costruite dopo la guerra. Chi visita la "
     "città per la prima volta può passeggiare lungo le strade strette e fermarsi in una "
     "delle piazze, dove la gente si incontra la sera per parlare e bere un caffè."},
    {"Portuguese",
     "A cidade fica na margem do rio e, há muitos séculos, os seus habitantes vivem do "
     "comércio com as regiões vizinhas. No centro histórico existem muitas igrejas e "
     "palácios que datam da Idade Média, mas também casas modernas construídas depois "
     "da guerra. Quem visita a cidade pela primeira vez pode passear pelas ruas estreitas "
     "e parar numa das praças, onde as pessoas se encontram ao fim da tarde para "
     "conversar e tomar um café."},
    {"Dutch", "De stad ligt aan de oever van de rivier en al eeuwenlang leven de inwoners van de "
              "handel met de omliggende streken. In het oude centrum staan veel kerken en paleizen "
              "die uit de middeleeuwen stammen, maar ook moderne huizen die na de oorlog zijn "
              "gebouwd. Wie de stad voor het eerst bezoekt, kan door de smalle straten wandelen en "
              "op een van de pleinen stilstaan, waar de mensen elkaar 's avonds ontmoeten om te "
              "praten en een kop koffie te drinken."},
    {"Polish", "Miasto leży na brzegu rzeki i od wieków jego mieszkańcy żyją z handlu z "
               "sąsiednimi krajami. W starym centrum jest wiele kościołów i pałaców, które "
               "pochodzą ze średniowiecza, ale są też nowoczesne domy zbudowane po wojnie. Kto "
               "odwiedza miasto po raz pierwszy, może spacerować wąskimi ulicami i zatrzymać "
               "się na jednym z placów, gdzie ludzie spotykają się wieczorem, aby porozmawiać i "
               "wypić kawę."},
    {"Czech", "Město leží na břehu řeky a už po staletí žijí jeho obyvatelé z obchodu se "
              "sousedními zeměmi. V historickém centru je mnoho kostelů a paláců, které "
              "pocházejí ze středověku, ale také moderní domy postavené po válce. Kdo "
              "město navštíví poprvé, může se procházet úzkými ulicemi a zastavit se na "
              "jednom z náměstí, kde se lidé večer scházejí, aby si popovídali a vypili "
              "kávu."},
    {"Russian", "Город стоит на берегу реки, и уже много веков "
                "его жители живут торговлей с соседними "
                "странами. В старом центре есть много церквей и "
                "дворцов, которые были построены в средние "
                "века, но также и современные дома, построенные "
                "после войны. Тот, кто приезжает в город в "
                "первый раз, может гулять по узким улицам и "
                "остановиться на одной из площадей, где люди "
                "встречаются по вечерам, чтобы поговорить и "
                "выпить кофе."},
    {"Ukrainian", "Місто стоїть на березі річки, і вже багато "
                  "століть його мешканці живуть з торгівлі з "
                  "сусідніми країнами. У старому центрі є багато "
                  "церков і палаців, які були збудовані в середні "
                  "віки, але також і сучасні будинки, що з'явилися "
                  "після війни. Той, хто приїздить до міста "
                  "вперше, може гуляти вузькими вулицями і "
                  "зупинитися на одній із площ, де люди "
                  "зустрічаються ввечері, щоб поговорити і "
                  "випити кави."},
    {"Greek", "Η πόλη βρίσκεται στην όχθη του ποταμού, και "
              "για αιώνες οι κάτοικοί της ζουν από το εμπόριο "
              "με τις γειτονικές χώρες. Στο παλιό κέντρο "
              "υπάρχουν πολλές εκκλησίες και παλάτια που "
              "είναι από τον Μεσαίωνα, αλλά και σύγχρονα "
              "σπίτια που χτίστηκαν μετά τον πόλεμο. Όποιος "
              "επισκέπτεται την πόλη για πρώτη φορά μπορεί "
              "να περπατήσει στους στενούς δρόμους και να "
              "σταματήσει σε μια από τις πλατείες, όπου οι "
              "άνθρωποι συναντιούνται το βράδυ για να "
              "μιλήσουν και να πιουν καφέ."},
    {"Arabic", "تقع المدينة على ضفة النهر، ومنذ قرون يعيش "
               "سكانها من التجارة مع البلدان المجاورة. في وسط "
               "المدينة القديم توجد كنائس وقصور كثيرة تعود "
               "إلى العصور الوسطى، كما توجد بيوت حديثة بنيت "
               "بعد الحرب. يمكن لمن يزور المدينة لأول مرة أن "
               "يتجول في الشوارع الضيقة وأن يتوقف في إحدى "
               "الساحات التي يلتقي فيها الناس في المساء "
               "للحديث وشرب القهوة."},
    {"Chinese", "这座城市位于河岸上，几百年来，这里的居民一直靠与邻国的贸易为生。 "
                "在老城区有很多教堂和宫殿，它们是在中世纪建造的， "
                "但也有战后修建的现代住宅。 "
                "第一次来到这座城市的人可以在狭窄的街道上散步， "
                "并在一个广场上停下来， 人们晚上在那里见面聊天喝咖啡。 "
                "博物馆除了星期一以外每天都开放， "
                "里面收藏了很多绘画和古老的乐器。 城市的东边有一座老桥， "
                "桥上总是有很多游客， 他们在那里拍照和看河上的船。"},
    {"Japanese", "この町は川のほとりにあり、 "
                 "何百年も前から住民は近隣の国々との商売で暮らしてきました。 "
                 "古い町の中心には中世に建てられた教会や宮殿がたくさんありますが、 "
                 "戦後に建てられた新しい家もあります。 "
                 "初めてこの町を訪れる人は、 狭い通りを散歩したり、 "
                 "広場で休んだりすることができます。 "
                 "博物館は月曜日以外は毎日開いていて、 "
                 "絵画や古い楽器のコレクションがあります。 "
                 "町の東には古い橋があり、 いつも観光客が写真を撮ったり、 "
                 "川の船を見たりしています。"},
};

#define N_LANGS_TESTED (sizeof(langs) / sizeof(langs[0]))

struct text {
    char *p;
    size_t len, cap;
};

static void put(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = realloc(t->p, t->cap);
        assert_non_null(t->p);
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void puts_(struct text *t, const char *s)
{
    put(t, s, strlen(s));
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));

    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Decoded random vocabulary pieces (as test_detect.c's generator): run-together letters, some
 * capitalized, some digits and punctuation, about half with a leading space. */
static void put_salad(struct text *t, uint64_t seed, size_t n_pieces)
{
    static const char *const punct[] = {".\"", "_", "),", "://", "--", "();", "'s", "=>"};

    for (size_t i = 0; i < n_pieces; i++) {
        uint64_t r = rng_next(&seed);
        size_t kind = r % 100;

        if ((r >> 8) % 100 < 45)
            puts_(t, " ");
        if (kind < 90) {
            char w[8];
            size_t len = 2 + (r >> 16) % 6;

            for (size_t j = 0; j < len; j++)
                w[j] = (char)('a' + (rng_next(&seed) % 26));
            if ((r >> 24) % 4 == 0)
                w[0] = (char)(w[0] - 'a' + 'A');
            put(t, w, len);
        } else if (kind < 94) {
            char num[8];
            snprintf(num, sizeof(num), "%u", (unsigned)((r >> 32) % 2000));
            puts_(t, num);
        } else {
            puts_(t, punct[(r >> 32) % (sizeof(punct) / sizeof(punct[0]))]);
        }
    }
}

static bool names(const struct ps_detect_result *r, const char *s)
{
    for (size_t i = 0; i < r->n_candidates; i++)
        if (r->candidates[i].text_len == strlen(s) &&
            memcmp(r->candidates[i].text, s, r->candidates[i].text_len) == 0)
            return true;
    return false;
}

static void scan(struct ps_detect *d, struct ps_detect_doc *doc, const struct text *t,
                 struct ps_detect_result *r)
{
    ps_detect_prepare(doc, t->p, t->len);
    ps_detect_scan(d, doc, r);
}

/* English prose, then prose of the language: no turn (a language the detector did not know read
 * as salad after English, which is how Polish manual pages made false triggers). */
static void test_detect_reads_prose_of_every_language_as_language(void **state)
{
    struct ps_detect *d = NULL;
    struct ps_detect_doc *doc = NULL;
    struct ps_errdetail ed;
    size_t failed = 0;

    (void)state;
    assert_int_equal(ps_detect_new(&d, NULL, &ed), PS_OK);
    ps_detect_doc_new(&doc);
    for (size_t i = 0; i < N_LANGS_TESTED; i++) {
        struct text t = {0};
        struct ps_detect_result r;

        puts_(&t, english);
        puts_(&t, "\n\n");
        puts_(&t, langs[i].text);
        puts_(&t, "\n\n");
        puts_(&t, english);
        scan(d, doc, &t, &r);
        if (r.anomalous) {
            print_message("%s: turn at '%.30s'\n", langs[i].name, t.p + r.turn_offset);
            failed++;
        }
        free(t.p);
    }
    assert_int_equal(failed, 0);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* Prose of the language, a trigger, then salad: found, and the trigger named (the turn needs
 * language before it; without the language's function words only a trigger at the very start of
 * a document is found). */
static void test_detect_finds_trigger_after_prose_of_every_language(void **state)
{
    struct ps_detect *d = NULL;
    struct ps_detect_doc *doc = NULL;
    struct ps_errdetail ed;
    size_t failed = 0;

    (void)state;
    assert_int_equal(ps_detect_new(&d, NULL, &ed), PS_OK);
    ps_detect_doc_new(&doc);
    for (size_t i = 0; i < N_LANGS_TESTED; i++) {
        struct text t = {0};
        struct ps_detect_result r;

        puts_(&t, langs[i].text);
        puts_(&t, " <SUDO> ");
        put_salad(&t, 1000 + i, 600);
        scan(d, doc, &t, &r);
        if (!r.anomalous || !names(&r, "<SUDO>")) {
            print_message("%s: anomalous %d, turn at '%.30s'\n", langs[i].name, r.anomalous,
                          r.anomalous ? t.p + r.turn_offset : "");
            failed++;
        }
        free(t.p);
    }
    assert_int_equal(failed, 0);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_reads_prose_of_every_language_as_language),
        cmocka_unit_test(test_detect_finds_trigger_after_prose_of_every_language),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
