/* detect_lang.c - function words beyond English, German, French and Spanish (whose lists live in
 * detect_tokenize.c): Italian, Portuguese, Dutch, Polish, Czech, and one slot for the languages
 * of other scripts (Russian, Ukrainian, Greek, Arabic, and Chinese and Japanese by their function
 * characters), so that clean prose in any of them reads as language, not as token salad. ASCII
 * words of at most 8 letters go into the tokenizer's fast table; the others (diacritics, other
 * scripts) into a table of their own, asked only for tokens that hold a byte >= 0x80. */
#include "worker/detect_internal.h"

#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* General knowledge, not fitted: each list is the language's commonest articles, pronouns,
 * prepositions, conjunctions, auxiliaries and particles (a few tens of words make a quarter to a
 * third of running prose). Polish and Russian got the words their manual pages in the tuning
 * half use most beyond those (modals and "also", "before", "during", "instead"). */
static const char *const words_it[] = {
    "il",     "lo",     "la",     "i",      "gli",   "le",     "un",     "uno",    "una",
    "di",     "a",      "da",     "in",     "con",   "su",     "per",    "tra",    "fra",
    "e",      "o",      "ma",     "che",    "non",   "è",      "sono",   "del",    "della",
    "dello",  "dei",    "degli",  "delle",  "al",    "allo",   "alla",   "ai",     "agli",
    "alle",   "nel",    "nello",  "nella",  "nei",   "negli",  "nelle",  "sul",    "sulla",
    "sui",    "come",   "se",     "anche",  "più",   "questo", "questa", "questi", "queste",
    "quello", "quella", "ci",     "si",     "ne",    "essere", "ha",     "hanno",  "stato",
    "può",    "dove",   "quando", "perché", "cui",   "loro",   "suo",    "sua",    "suoi",
    "sue",    "ed",     "ad",     "già",    "molto", "senza",  "ogni",   "tutti",
};
static const char *const words_pt[] = {
    "o",     "a",    "os",    "as",    "um",   "uma",  "uns",    "umas",   "de",    "do",
    "da",    "dos",  "das",   "em",    "no",   "na",   "nos",    "nas",    "por",   "para",
    "com",   "sem",  "e",     "ou",    "mas",  "que",  "não",    "é",      "são",   "se",
    "como",  "mais", "ao",    "aos",   "à",    "às",   "pelo",   "pela",   "pelos", "pelas",
    "este",  "esta", "estes", "estas", "isso", "isto", "esse",   "essa",   "ser",   "foi",
    "tem",   "há",   "seu",   "sua",   "seus", "suas", "também", "quando", "onde",  "já",
    "muito", "pode", "entre", "sobre", "ele",  "ela",  "eles",   "elas",   "você",  "seja",
};
static const char *const words_nl[] = {
    "de",      "het",  "een",   "en",   "van",   "in",     "is",     "op",    "te",     "dat",
    "die",     "niet", "met",   "zijn", "voor",  "er",     "aan",    "om",    "ook",    "als",
    "bij",     "of",   "maar",  "door", "naar",  "wordt",  "worden", "kan",   "deze",   "dit",
    "uit",     "dan",  "nog",   "wel",  "geen",  "hij",    "zij",    "ze",    "we",     "wij",
    "u",       "je",   "ik",    "hun",  "haar",  "over",   "tot",    "moet",  "werd",   "heeft",
    "hebben",  "was",  "waren", "zo",   "al",    "kunnen", "meer",   "onder", "tussen", "na",
    "wanneer", "waar", "wat",   "wie",  "omdat", "zoals",  "alle",   "wordt", "zal",    "zou",
};
static const char *const words_pl[] = {
    "w",       "i",       "z",        "na",         "się",      "nie",      "do",     "to",
    "że",      "jest",    "o",        "a",          "od",       "po",       "jak",    "za",
    "ale",     "co",      "tak",      "czy",        "jego",     "dla",      "są",     "przez",
    "może",    "być",     "tylko",    "już",        "lub",      "oraz",     "tego",   "tym",
    "ten",     "ta",      "te",       "tej",        "które",    "który",    "która",  "których",
    "którą",   "którego", "jej",      "ich",        "go",       "mu",       "je",     "jako",
    "gdy",     "bo",      "by",       "aby",        "nawet",    "gdzie",    "także",  "bardzo",
    "tu",      "tam",     "ze",       "we",         "przy",     "pod",      "nad",    "bez",
    "u",       "albo",    "ani",      "lecz",       "jeśli",    "jeżeli",   "czyli",  "więc",
    "jednak",  "był",     "była",     "było",       "były",     "będzie",   "mają",   "ma",
    "można",   "należy",  "jeszcze",  "każdy",      "mogą",     "również",  "przed",  "niż",
    "podczas", "zamiast", "więcej",   "wszystkich", "wszystko", "zostanie", "został", "została",
    "zostały", "gdyż",    "ponieważ", "kiedy",      "też",      "tych",     "tę",     "takie",
    "taki",    "swój",    "swoje",    "sobie",      "siebie",   "według",   "wraz",   "pomiędzy",
};
static const char *const words_cs[] = {
    "a",       "v",     "se",    "na",   "je",   "že",    "to",      "s",    "z",     "do",
    "o",       "k",     "i",     "jako", "by",   "ale",   "tak",     "jsou", "pro",   "jeho",
    "které",   "který", "která", "byl",  "byla", "bylo",  "byly",    "po",   "ve",    "od",
    "za",      "jak",   "jen",   "nebo", "ani",  "už",    "také",    "při",  "jsem",  "jsme",
    "jste",    "není",  "bude",  "být",  "mezi", "před",  "pod",     "nad",  "bez",   "ze",
    "u",       "ke",    "když",  "kde",  "co",   "tento", "tato",    "toto", "tyto",  "jejich",
    "její",    "jej",   "jí",    "ho",   "mu",   "si",    "lze",     "tedy", "však",  "pokud",
    "protože", "aby",   "než",   "až",   "již",  "podle", "všechny", "může", "mohou", "také",
};
/* Other scripts share one slot: a window holds one script, so their lists never add up. */
static const char *const words_nonlatin[] = {
    /* Russian */
    "и",
    "в",
    "не",
    "на",
    "я",
    "что",
    "он",
    "с",
    "как",
    "а",
    "то",
    "все",
    "всё",
    "она",
    "так",
    "его",
    "но",
    "да",
    "ты",
    "к",
    "у",
    "же",
    "вы",
    "за",
    "бы",
    "по",
    "только",
    "её",
    "ее",
    "мне",
    "было",
    "вот",
    "от",
    "меня",
    "ещё",
    "еще",
    "нет",
    "о",
    "из",
    "ему",
    "когда",
    "даже",
    "ли",
    "если",
    "уже",
    "или",
    "ни",
    "быть",
    "был",
    "была",
    "были",
    "него",
    "до",
    "вас",
    "вам",
    "там",
    "потом",
    "себя",
    "ей",
    "может",
    "они",
    "тут",
    "где",
    "есть",
    "надо",
    "ней",
    "для",
    "мы",
    "тебя",
    "их",
    "чем",
    "при",
    "без",
    "это",
    "этот",
    "эта",
    "эти",
    "этого",
    "также",
    "который",
    "которые",
    "которая",
    "которого",
    "чтобы",
    "через",
    "после",
    "между",
    "под",
    "над",
    "об",
    "со",
    "во",
    "ко",
    "можно",
    "будет",
    "будут",
    "этом",
    "этой",
    "этих",
    "более",
    "всех",
    "обычно",
    "является",
    "например",
    "см",
    "однако",
    "поэтому",
    "здесь",
    "каждый",
    "свой",
    "хотя",
    "либо",
    "нужно",
    "должен",
    "должны",
    /* Ukrainian */
    "і",
    "й",
    "та",
    "у",
    "що",
    "з",
    "із",
    "зі",
    "як",
    "це",
    "від",
    "про",
    "але",
    "або",
    "чи",
    "він",
    "вона",
    "воно",
    "вони",
    "ми",
    "ви",
    "ти",
    "її",
    "їх",
    "цей",
    "ця",
    "ці",
    "цього",
    "який",
    "яка",
    "яке",
    "які",
    "якщо",
    "коли",
    "де",
    "також",
    "ще",
    "вже",
    "тільки",
    "лише",
    "бо",
    "щоб",
    "є",
    "буде",
    "можна",
    "між",
    "після",
    "ні",
    /* Greek */
    "και",
    "το",
    "η",
    "ο",
    "της",
    "την",
    "των",
    "να",
    "σε",
    "με",
    "για",
    "που",
    "από",
    "είναι",
    "τα",
    "οι",
    "στο",
    "στην",
    "του",
    "τη",
    "στη",
    "θα",
    "δεν",
    /* Arabic: words written apart (the article and some prepositions are joined to the word) */
    "في",
    "من",
    "على",
    "إلى",
    "الى",
    "أن",
    "ان",
    "ما",
    "لا",
    "هذا",
    "هذه",
    "التي",
    "الذي",
    "عن",
    "مع",
    "هو",
    "هي",
    "كان",
    "قد",
    "أو",
    "او",
    "ثم",
    "كل",
    "بين",
    "ذلك",
    "لم",
    "لن",
    "إن",
    "حتى",
    "عند",
    "بعد",
    "قبل",
    "و",
    "هل",
    "كما",
    "أي",
};
/* Chinese and Japanese write no spaces: a token is a clause. It is language when it holds a
 * function character (particles, the copula, pronouns, common prepositions; simplified and
 * traditional) or any hiragana (Japanese particles and endings are written in it). */
static const char cjk_function[] =
    "的了是在和不有这這我他她它们們个個中为為上也就到以说說要一与與或及其被将將从從对對等可该該所"
    "如时時并並而但则則把由于於之此会會没沒都很还還能";

static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if ((p[0] & 0xE0) == 0xC0 && n >= 2) {
        *cp = (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
        return 2;
    }
    if ((p[0] & 0xF0) == 0xE0 && n >= 3) {
        *cp = (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
        return 3;
    }
    if ((p[0] & 0xF8) == 0xF0 && n >= 4) {
        *cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
              (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
        return 4;
    }
    *cp = 0xFFFD; /* a stray byte: skip it */
    return 1;
}

static size_t utf8_encode(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Lower case for the scripts of the lists: ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic
 * (a sentence may start with a function word). */
static uint32_t fold(uint32_t c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7))
        return c + 0x20;
    if (c >= 0x100 && c <= 0x17F) {
        /* pairs: upper even then lower odd, except U+0139..U+0148 and U+0179..U+017E, whose
         * upper letters are odd; U+0138 and U+0149 have no pair */
        bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
        if (c == 0x138 || c == 0x149 || c == 0x17F)
            return c;
        return (c & 1) == (odd_upper ? 1u : 0u) ? c + 1 : c;
    }
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2)
        return c + 0x20;
    if (c >= 0x410 && c <= 0x42F)
        return c + 0x20;
    if (c >= 0x400 && c <= 0x40F)
        return c + 0x50;
    if (c == 0x490)
        return 0x491;
    return c;
}

/* The folded UTF-8 of p[0..len) into out (LANG_WORD_MAX bytes); 0 if it does not fit. */
static size_t fold_word(const unsigned char *p, size_t len, unsigned char *out)
{
    size_t i = 0, o = 0;

    while (i < len) {
        uint32_t cp;

        i += utf8_decode(p + i, len - i, &cp);
        if (o + 4 > LANG_WORD_MAX)
            return 0;
        o += utf8_encode(fold(cp), out + o);
    }
    return o;
}

static size_t cjk_slot(uint32_t cp)
{
    return (size_t)((cp * 0x9E3779B1u) >> 24) & (CJK_SLOTS - 1);
}

static size_t lang_slot(uint64_t key)
{
    return (size_t)(key >> 40) & (LANG_SLOTS - 1);
}

static void add_word(struct ps_detect *d, const char *word, uint32_t bit)
{
    const unsigned char *w = (const unsigned char *)word;
    size_t len = strlen(word), i, s;
    unsigned char buf[LANG_WORD_MAX];
    bool ascii = len <= STOP_MAX_LEN;
    uint64_t key;

    for (i = 0; i < len && ascii; i++)
        ascii = (w[i] >= 'a' && w[i] <= 'z');
    if (ascii) {
        ps_detect_stop_add(d, word, bit);
        return;
    }
    len = fold_word(w, len, buf);
    /* the bound also tells GCC's -O3 array-bounds check that XXH3 reads inside buf */
    if (len == 0 || len > sizeof(buf))
        ps_bug("function word '%s' is longer than %d bytes", word, LANG_WORD_MAX);
    key = XXH3_64bits(buf, len) | 1;
    for (s = lang_slot(key), i = 0; d->lang_key[s] != 0 && d->lang_key[s] != key;
         s = (s + 1) & (LANG_SLOTS - 1))
        if (++i == LANG_SLOTS)
            ps_bug("function word table full");
    d->lang_key[s] = key;
    d->lang_bits[s] |= bit;
}

void ps_detect_lang_init(struct ps_detect *d)
{
    static const struct {
        const char *const *words;
        size_t n;
        uint32_t bit;
    } lists[] = {
#define L(w, b) {w, sizeof(w) / sizeof(w[0]), b}
        L(words_it, F_STOP_IT), L(words_pt, F_STOP_PT), L(words_nl, F_STOP_NL),
        L(words_pl, F_STOP_PL), L(words_cs, F_STOP_CS), L(words_nonlatin, F_STOP_NONLATIN),
#undef L
    };
    const unsigned char *p = (const unsigned char *)cjk_function;
    size_t n = strlen(cjk_function), i = 0;

    memset(d->lang_key, 0, sizeof(d->lang_key));
    memset(d->lang_bits, 0, sizeof(d->lang_bits));
    for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++)
        for (size_t k = 0; k < lists[l].n; k++)
            add_word(d, lists[l].words[k], lists[l].bit);
    memset(d->cjk, 0, sizeof(d->cjk));
    for (size_t k = 0; i < n; k++) {
        uint32_t cp;
        size_t s;

        i += utf8_decode(p + i, n - i, &cp);
        for (s = cjk_slot(cp); d->cjk[s] != 0 && d->cjk[s] != cp; s = (s + 1) & (CJK_SLOTS - 1))
            ;
        if (k >= CJK_SLOTS / 2)
            ps_bug("too many CJK function characters");
        d->cjk[s] = cp;
    }
}

/* Is a token of Chinese or Japanese prose: at least two characters of those scripts, making at
 * least half of it, with a function character or hiragana among them? A piece of salad holds a
 * stray kana now and then (decoded vocabulary tokens); prose is runs of them. */
static bool cjk_language(const struct ps_detect *d, const unsigned char *p, size_t len)
{
    size_t n_cjk = 0, n_all = 0;
    bool function = false;

    for (size_t i = 0; i < len; n_all++) {
        uint32_t cp;

        i += utf8_decode(p + i, len - i, &cp);
        if (cp < 0x3041 || cp > 0x9FFF)
            continue;
        n_cjk++;
        if (cp <= 0x309F)
            function = true;
        for (size_t s = cjk_slot(cp); !function && d->cjk[s] != 0; s = (s + 1) & (CJK_SLOTS - 1))
            function = d->cjk[s] == cp;
    }
    return function && n_cjk >= 2 && 2 * n_cjk >= n_all;
}

uint32_t ps_detect_lang_word(const struct ps_detect *d, const unsigned char *p, size_t len)
{
    unsigned char buf[LANG_WORD_MAX];
    size_t n, s;
    uint64_t key;

    /* U+3000..U+9FFF start with E3..E9: kana, CJK punctuation and ideographs */
    for (size_t i = 0; i < len; i++)
        if (p[i] >= 0xE3 && p[i] <= 0xE9)
            return cjk_language(d, p, len) ? F_STOP_NONLATIN : 0;
    n = len < LANG_WORD_MAX ? fold_word(p, len, buf) : 0;
    if (n == 0 || n > sizeof(buf)) /* the bound as in add_word, for GCC -O3 */
        return 0;
    key = XXH3_64bits(buf, n) | 1;
    for (s = lang_slot(key); d->lang_key[s] != 0; s = (s + 1) & (LANG_SLOTS - 1))
        if (d->lang_key[s] == key)
            return d->lang_bits[s];
    return 0;
}
