"""Pattern rules for prompt injection and jailbreaks, in English, German, French, Spanish, Italian and Polish.

Every rule has a weight between 0 and 1. Hits close together (starts within 800
characters) are combined by noisy-or (``1 - prod(1 - w)``), and a text scores as its
strongest neighbourhood, so one strong rule or two medium ones reach the default
threshold of 0.75 while weak hits scattered over a long page do not add up. Rules run
over every view that
``normalize.views`` returns, so they are written in lower case without diacritics
(``precedentes``, not ``précédentes``).

Three adjustments follow the weights:

- A match hidden from a human reader (in an HTML comment or invisible element, in a
  decoded base64 or hex blob, in tag characters, written in leetspeak, or with
  zero-width characters inside it) counts more: obfuscation is itself a signal.
- A match inside quotes in a text that discusses attacks ("is this a prompt
  injection: '...'") or inside a string literal of source code counts less, because
  quoting an attack is not issuing it.
- Rules about instructions addressed to the model, role markers and hidden HTML
  weigh more in tool results and documents than in user prompts, where "Assistant:"
  is a normal few-shot format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from mesh_agents.guardrails.normalize import TextView, is_disguised, views
from mesh_agents.types import Source

__all__ = ["Hit", "Rule", "RuleScan", "RuleScanner", "default_rules"]

_TOOL_SOURCES = frozenset({Source.TOOL_RESULT, Source.DOCUMENT})

# Building blocks shared by several rules.
_ADDRESSEE = (
    r"(?:ai|a\.i\.|assistants?|models?|llms?|agents?|bots?|chatbots?|copilots?|chatgpt|gpt|claude|language models?"
    r"|ai (?:assistants?|agents?|screening tools?|travel assistants?|tools?|systems?|models?)"
    r"|ki(?:-assistent(?:en)?|-agent(?:en)?|-systeme?)?|ki assistent(?:en)?|assistants? ia|assistent[ei](?: ia)?"
    r"|asistentes?(?: de)? ia|asystent(?:a|ow)?(?: ai)?|agente(?: ia)?|ia"
    r"|(?:systems?|tools?|systemow|systemy|narzedzi|sistemi|sistemas|systemes|outils|systeme) (?:ai|ia|ki|de ia|d'ia))"
)
# Forms of address that put the model in the second person from inside data.
_NOTE_TO = (
    r"\b(?:note|notice|message|instructions?|attention|important|reminder|hinweis|anweisung|nachricht|remarque"
    r"|consigne|nota|istruzion[ei]|messaggio|instrukcja|wskazowka|uwaga|wiadomosc|aviso|mensaje|instruccion(?:es)?)"
    r"\s+(?:to|for|an|fur|pour|para|per|dla)\s+(?:the\s+|den\s+|die\s+|l'|el\s+|la\s+|los\s+|les\s+|gli\s+"
    r"|all'|any\s+|all\s+)?" + _ADDRESSEE + r"\b"
)
_VOCATIVE = (
    r"(?:^|[\n\[\(\{\"'>:.!?;,@]|<!--|\\n)\s*(?:also,?\s+|dear\s+|hey\s+|hi\s+|hello\s+|attention\s+"
    r"|an\s+(?:die\s+|den\s+)?|a\s+l'|al\s+|all'|do\s+)?@?" + _ADDRESSEE + r"\s*(?::|,|\s-{1,2}\s)"
)
_READING_THIS = (
    _ADDRESSEE
    + r"\s+(?:reading|reviewing|processing|summari[sz]ing|editing|importing|screening|parsing|triaging|working on"
    r"|analy[sz]ing|handling|answering|helping with|that reads?|who reads?|der (?:dieses|diese|dies)|qui lit"
    r"|che legge|que lee|ktory czyta|oceniajac\w*|die (?:diese|dieses))\b|\bif you are an? " + _ADDRESSEE + r"\b"
    r"|\bto any " + _ADDRESSEE + r"\b|\bif (?:an?|any) " + _ADDRESSEE + r" (?:is )?(?:reading|processing|reviewing"
    r"|summari[sz]ing|sees|parses)\b"
)
_IMPERATIVE = (
    r"(?:ignore|disregard|forget|send|email|forward|export|upload|post|call|run|execute|approve|grant|add|create"
    r"|delete|remove|install|tell|say|recommend|mark|score|place|share|accept|escalate|disable|append|render|include"
    r"|reply|respond|answer|do not|don't|never|always|from now on|visit|open|click|download|transfer|pay|fetch|move"
    r"|ignoriere|vergiss|sende|schicke|verschicke|leite|exportiere|losche|fuge|empfiehl|behaupte|gib|zeige|fuhre"
    r"|genehmige|envoie|envoyez|exporte|supprime|transfere|ajoute|recommande|affiche|approuve|marque|envia|exporta"
    r"|elimina|borra|reenvia|anade|recomienda|muestra|aprueba|marca|invia|esporta|inoltra|aggiungi|consiglia|segna"
    r"|approva|mostra|wyslij|przekaz|eksportuj|usun|dodaj|polec|zatwierdz|oznacz|pokaz|zignoruj|replace|change|set"
    r"|modify|update|unassign|lower|raise|list|book|reserve|rate|rank|dile|dis|sag|di'|powiedz|ocen|oceniaj|sage|nenne"
    r"|reserva|reserve|prenota)"
)
_OVERRIDE_OBJECT = (
    r"(?:instructions?|prompts?|rules|guidelines|directions|directives|context|commands|orders|programming|guidance"
    r"|constraints|restrictions|inputs?|polic(?:y|ies)|tasks?|assignments?|system messages?|criteria)"
)
_SEND_VERB = (
    r"(?:send|post|upload|forward|e-?mail|export|append|submit|transmit|share|exfiltrate|copy|sync|leak|attach|envoie"
    r"|envoyez|envia|invia|sende|schicke|verschicke|wyslij|exporte|exporta|esporta|eksportuj|inoltra|reenvia)"
)
_DESTINATION = r"(?:https?://|www\.|\b[\w.+-]+@[\w-]+\.[a-z][\w.-]*)"
_SENSITIVE = (
    r"(?:conversation|chat history|history|system prompt|api[ _-]?keys?|keys?|tokens?|credentials?|passwords?|secrets?"
    r"|customer (?:list|data|records)|customers?|clients?|contacts|contact (?:list|database|details|data)|files|folder"
    r"|emails|(?<!e-)mails?|inbox|database|session"
    r"|salar(?:y|ies)|payroll|gehaltsliste|kundenliste|contactos|clientes|clienti|contatti|klientow|kontakty|env"
    r"|environment|cookies?)"
)


@dataclass(frozen=True)
class Rule:
    """One pattern and what it means.

    Attributes:
        name: Unique rule id, reported as the verdict's rule.
        reason: Category reported as the verdict's reason, such as ``instruction_override``.
        pattern: Regular expression over a lower-case view without diacritics.
        weight: Evidence of an injection when the rule matches, 0 to 1.
        tool_weight: Weight in tool results and documents, when it differs.
    """

    name: str
    reason: str
    pattern: re.Pattern[str]
    weight: float
    tool_weight: float | None = None

    def weight_for(self, source: Source) -> float:
        if self.tool_weight is not None and source in _TOOL_SOURCES:
            return self.tool_weight
        return self.weight


@dataclass(frozen=True)
class Hit:
    """A rule match: the rule, the span in the original text, the weight after adjustment."""

    rule: Rule
    span: tuple[int, int]
    weight: float
    view: str


@dataclass
class RuleScan:
    """The outcome of scanning one text: the noisy-or score and the hits behind it.

    Attributes:
        score: Noisy-or of the hit weights, 0 to 1.
        hits: The hits of the highest-scoring neighbourhood, the strongest per rule.
        spans: Spans of every hit in a neighbourhood that reaches ``span_threshold``,
            and of ``hits``; what a rewrite strips.
        quoted_discussion: Whether the text discusses attacks with every hit in quotes, as
            when a user asks about an attack string. A classifier should not overrule that.
    """

    score: float
    hits: list[Hit] = field(default_factory=list)
    quoted_discussion: bool = False
    spans: tuple[tuple[int, int], ...] = ()

    @property
    def reason(self) -> str:
        """Reason of the strongest hit, or an empty string."""
        if not self.hits:
            return ""
        return max(self.hits, key=lambda hit: hit.weight).rule.reason


def _rule(name: str, reason: str, pattern: str, weight: float, tool_weight: float | None = None) -> Rule:
    return Rule(name, reason, re.compile(pattern, re.MULTILINE), weight, tool_weight)


def default_rules() -> list[Rule]:
    """Return the built-in rule set."""
    return [
        # Attempts to drop or replace the operator's instructions.
        _rule(
            "override_en",
            "instruction_override",
            r"\b(?:ignore|ingore|ignroe|igmre|ignor|disregard|forget|skip|override|bypass|abandon|discard|neglect"
            r"|overlook|set aside|throw out|erase|clear|remove|delete|wipe|reset|cancel|stop following|do not follow"
            r"|don't follow|no longer follow)\b(?:\W+\w+){0,5}?\W+(?:previous|prior|above|earlier|preceding|former"
            r"|initial|original|all|any|your|system|developer|default|following"
            r"|old)\b(?:\W+\w+){0,3}?\W+" + _OVERRIDE_OBJECT + r"\b",
            0.9,
        ),
        _rule(
            "override_de",
            "instruction_override",
            r"\b(?:ignorier(?:e|en)?|vergiss|vergessen sie|missachte|ubergehe"
            r"|verwirf)\b(?:\W+\w+){0,5}?\W+(?:anweisungen|instruktionen|befehle|auftrage|aufgaben|regeln|vorgaben"
            r"|richtlinien|anordnungen|prompts?|angaben|obige|obigen|kriterien)\b",
            0.9,
        ),
        _rule(
            "override_fr",
            "instruction_override",
            r"\b(?:ignore[zr]?|oublie[zr]?|ne tiens? pas compte d|ne tenez pas compte d"
            r"|fais abstraction d)\w*(?:\W+\w+){0,5}?\W+(?:instructions|consignes|regles|directives|ordres|prompts?)\b",
            0.9,
        ),
        _rule(
            "override_es",
            "instruction_override",
            r"\b(?:ignora(?:r|d)?|olvida(?:r|te de)?|descarta|omite)\b(?:\W+\w+){0,5}?\W+(?:instrucciones|reglas"
            r"|ordenes|indicaciones|directrices|prompts?)\b",
            0.9,
        ),
        _rule(
            "override_it",
            "instruction_override",
            r"\b(?:ignora(?:re)?|dimentica(?:re)?|trascura)\b(?:\W+\w+){0,5}?\W+(?:istruzioni|regole|direttive"
            r"|indicazioni|prompts?)\b",
            0.9,
        ),
        _rule(
            "override_pl",
            "instruction_override",
            r"\b(?:zignoruj|ignoruj|zapomnij|pomin)\b(?:\W+\w+){0,5}?\W+(?:instrukcje|instrukcjach|instrukcji"
            r"|polecenia|poleceniach|polecen|zasady|zasadach|reguly|wytyczne|prompt|kryteria)\b",
            0.9,
        ),
        _rule(
            "forget_everything",
            "instruction_override",
            r"\b(?:forget|ignore|disregard)\s+(?:about\s+)?(?:everything|all of that|all that)\b"
            r"|\bvergiss\s+(?:jetzt\s+)?alles\b|\boublie[zr]?\s+tout\b|\bolvida\s+todo\b|\bdimentica\s+tutto\b"
            r"|\bzapomnij\s+o\s+wszystkim\b|\bolvid(?:a|e|en|ad)\s+todo\b",
            0.55,
        ),
        _rule(
            "forget_everything_before",
            "instruction_override",
            r"\b(?:forget|ignore|disregard)\s+everything\s+(?:before|above|so far|earlier|previously|i (?:told|said)"
            r"|we(?:'ve| have)? (?:talked|discussed|said)|you (?:know|learned|were told|got))"
            r"|\bvergiss\s+(?:jetzt\s+)?alles,?\s+(?:davor|bisher|zuvor|vorher|was)\b",
            0.85,
        ),
        _rule(
            "context_switch",
            "instruction_override",
            r"\b(?:well done|good job|great job|excellent|very good|very well done|congratulations|superbly done"
            r"|simply great|perfect|that is enough|that's enough|sehr gut|gut gemacht|hervorragend|ausgezeichnet"
            r"|herzlichen gluckwunsch|das genugt|tres bien|bravo|muy bien|molto bene|bardzo dobrze"
            r"|swietnie)\b[^.!?\n]{0,60}[.!?]+\s*(?:\w+\s+){0,2}(?:now|but now|jetzt|nun|aber jetzt|maintenant|ahora"
            r"|ora|adesso|teraz)\b",
            0.45,
        ),
        _rule(
            "attention_stop",
            "instruction_override",
            r"\b(?:attention|achtung|stop|stopp|halt|alto)\b\s*[-!:.]+\s*(?:stop|stopp|now|jetzt|halt)\b",
            0.5,
        ),
        _rule(
            "from_now_on",
            "instruction_override",
            r"\bfrom (?:now|this (?:moment|message|point)) on\b|\bhenceforth\b|\bab jetzt\b|\bvon nun an\b"
            r"|\bab sofort\b|\ba partir de maintenant\b|\bdesormais\b|\bdorenavant\b|\ba partir de ahora\b"
            r"|\bde ahora en adelante\b|\bd'ora in poi\b|\bda ora in poi\b|\bod teraz\b|\bod tej chwili\b",
            0.3,
        ),
        _rule(
            "instead_do",
            "instruction_override",
            r"\binstead,?\s+(?:just\s+)?(?:tell|say|respond|reply|recommend|write|answer|output|print|claim|state)\b"
            r"|\bbefore (?:answering|responding|you answer|replying|continuing|summari[sz]ing|you respond)\b|\b(?:tell"
            r"|inform|remind) the (?:user|customer|guest|reader|candidate)\s+(?:that|to)\b|\bthe user (?:must|should"
            r"|needs to|has to)\s+(?:install|visit|download|enter|provide|grant|pay|click)\b|\b(?:respond|reply"
            r"|answer)\s+only\s+(?:with|in|by)\b|\bdile al (?:usuario|cliente)\b|\bdis a l'utilisateur\b|\bsag(?:e"
            r"|en sie)? dem (?:nutzer|benutzer|kunden)\b|\bdi' all'utente\b|\bpowiedz (?:uzytkownikowi|klientowi)\b",
            0.3,
            0.5,
        ),
        _rule(
            "forget_what_before",
            "instruction_override",
            r"\b(?:forget|ignore|ingore|igmre|disregard)\s+(?:what(?:'s| is| was)?|waht'?s|everything"
            r"|all)\s+(?:\w+\s+){0,3}?(?:before|above|earlier|previously)\b"
            r"|\bforget everything (?:that )?you\b[^.\n]{0,40}?\b(?:learned|learnt|know|were told|been told|was told"
            r"|read)\b|\bolvid\w*\s+todo\s+(?:lo\s+)?que\b|\balles\s+(?:zuvor|vorher|bisher|davor)\s+gesagte\b"
            r"|\bdas obige\b|\boublie[zr]? tout ce que\b|\bdimentica tutto (?:quello|cio) che\b"
            r"|\bzapomnij (?:o )?wszystk\w+,? co\b",
            0.7,
        ),
        _rule(
            "drop_task",
            "instruction_override",
            r"\b(?:drop|abandon|cancel|stop|skip|scrap)\s+(?:the|your|this)\s+(?:\w+\s+)?(?:task|assignment|job)\b"
            r"|\bscratch that\b",
            0.45,
        ),
        _rule("ignore_the_above", "instruction_override", r"\b(?:ignore|disregard)\s+the\s+above\b", 0.7),
        _rule(
            "ignore_the_user",
            "instruction_override",
            r"\b(?:ignore|disregard)\s+(?:the\s+)?user(?:'s)?\b(?:\s+(?:actual\s+)?(?:request|question|message|task))?"
            r"|\bignoriere die frage des nutzers\b|\bwhatever you (?:were|have been) told\b",
            0.6,
        ),
        _rule(
            "no_longer_bound",
            "instruction_override",
            r"\b(?:you are|you're|you)\s+no longer\s+(?:bound|restricted|limited|required|obliged)\b",
            0.9,
        ),
        _rule(
            "instructions_void",
            "instruction_override",
            r"\b(?:instructions|rules|guidelines|guidance|prompt|task|directives)\b(?:\W+\w+){0,3}?\W+(?:is"
            r"|are)\s+(?:now\s+)?(?:outdated|obsolete|void|cancell?ed|invalid|no longer valid|revoked|suspended"
            r"|superseded|null|deprecated)\b",
            0.8,
        ),
        _rule(
            "rules_dont_apply",
            "instruction_override",
            r"\b(?:they|these|those|your (?:guidelines|rules|instructions)|the rules)\s+(?:don't|do not"
            r"|no longer)\s+apply\b|\bset (?:them|it|your (?:rules|guidelines|instructions)) aside\b",
            0.65,
        ),
        _rule(
            "new_instructions",
            "instruction_override",
            r"\bnew (?:instructions?|rules|priority|directive|system prompt|orders)\b\s*(?:from|:|are|is)"
            r"|\byour (?:only|new|real|sole) (?:job|task|goal|purpose|instruction|mission)\b(?:\W+\w+){0,4}?\W+is\b"
            r"|\bneue (?:aufgabe|anweisung|anweisungen)\b|\bnouvelles? (?:instructions?|consignes?|taches?)\b"
            r"|\bnuevas? (?:instrucciones|tareas?)\b|\bnuov[ea] (?:istruzioni|compit[oi])\b|\bnowe (?:zadanie"
            r"|instrukcje)\b",
            0.45,
        ),
        _rule(
            "override_for_session",
            "instruction_override",
            r"\boverride\s+(?:it|them|that|this|the|your)\b(?:\W+\w+){0,6}?\W+for (?:this|the) (?:session|conversation"
            r"|chat)\b",
            0.7,
        ),
        _rule(
            "without_filtering",
            "instruction_override",
            r"\bwithout (?:any |all )?(?:filtering|filters?|hedging|restrictions|censorship|limits|warnings"
            r"|safeguards)\b",
            0.5,
        ),
        _rule(
            "skip_verification",
            "instruction_override",
            r"\b(?:skip|bypass|override|disable|circumvent)\s+(?:the\s+)?(?:verification|authentication|identity"
            r"|security|safety|content)\s*(?:step|check|checks|filter|filters|policy|policies)?\b",
            0.55,
        ),
        _rule(
            "claimed_authority",
            "instruction_override",
            r"\byour (?:developer|developers|creator|operator|admin|administrator)s? (?:just )?(?:messaged|told|said"
            r"|asked|allowed|wants|authori[sz]ed)\b|\bi am (?:one of )?your (?:developers?|creators?|admin|operator)\b"
            r"|\bnew priority from the (?:operator|developer|admin)\b|\bthis is (?:the|your) (?:system|admin"
            r"|administrator|it department|security team|developer|operator)\b|\b(?:ich bin|je suis|soy|sono"
            r"|jestem)\s+(?:der |le |el |l'|il )?(?:administrator|administrateur|administrador|amministratore"
            r"|administratorem)\b",
            0.55,
        ),
        _rule(
            "just_say",
            "instruction_override",
            r"\b(?:just|only)\s+(?:say|print|output|write|respond with|reply with)\s*[\"“'«:]",
            0.4,
        ),
        _rule(
            "stop_everything",
            "instruction_override",
            r"\bstop everything\b|\bnevermind\.?\s+ignore\b|\b(?:now|but now) come new tasks\b",
            0.6,
        ),
        # Personas and modes that claim to be free of rules.
        _rule(
            "dan",
            "role_play_jailbreak",
            r"\bdo anything now\b|\b(?:better|chat|evil)dan\b|\b(?:as|like|be|called|named)\s+(?:a\s+)?dan\b"
            r"|\bdan mode\b|\bdan,?\s+(?:which|who)\s+stands\b",
            0.9,
        ),
        _rule(
            "mode_enabled",
            "role_play_jailbreak",
            r"\b(?:developer|dev|god|jailbreak|jailbroken|dan|unrestricted|unfiltered|devmode|debug|maintenance"
            r"|opposite|evil|anarchy|sudo)[-_ \\]*mode\b(?:\W+\w+){0,3}?\W*(?:enabled|activated|active|is on|on"
            r"|enable)\b|\bpretend to be in \"?\w+ mode\b|\b(?:in|into) (?:developer|dev|god|jailbreak|devmode"
            r"|maintenance) mode\b",
            0.8,
        ),
        _rule(
            "unrestricted",
            "role_play_jailbreak",
            r"\b(?:no|without|free of|free from|freed from|not have any|doesn't have any|does not have any|zero"
            r"|not bound by any|not bound by|broken free of|broke free of|nor does it have any"
            r"|not have to abide by)\s+(?:any\s+|all\s+|the\s+|its\s+)?(?:typical\s+)?(?:content\s+)?(?:restrictions?"
            r"|filters?|polic(?:y|ies)|morality|usage policies|censorship|morals?|moral (?:principles|guidelines"
            r"|limitations?)|ethics|ethical(?: or moral)? (?:guidelines|principles|limitations?)|limitations|limits"
            r"|rules|guidelines|confines|boundaries)\b",
            0.55,
        ),
        _rule(
            "unrestricted_strong",
            "role_play_jailbreak",
            r"\b(?:is|are|be|being|am)\s+(?:not bound by|free of all|freed from|broken free of|no longer bound by)\b"
            r"|\b(?:does not|doesn't|do not|don't|does not even)\s+have\s+(?:a\s+|any\s+)?(?:content\s+)?(?:filters?"
            r"|restrictions|ethical|moral|morals|morality|guidelines|rules|limits|limitations|censorship"
            r"|content polic(?:y|ies))\b|\bfully unlocked\b|\bnot bound by any\b",
            0.75,
        ),
        _rule(
            "unrestricted_other",
            "role_play_jailbreak",
            r"\bbez (?:zadnych )?(?:zasad|ograniczen|filtrow|regul|cenzury)\b|\bohne (?:jegliche |irgendwelche "
            r"|alle )?(?:regeln|einschrankungen|filter|zensur|moral|ethik)\b|\bsans (?:aucune |aucun )?(?:regles?"
            r"|restrictions?|filtres?|censure|limites?)\b|\bsin (?:ninguna |ningun )?(?:reglas?|restricciones"
            r"|restriccion|filtros?|censura|limites)\b|\bsenza (?:alcuna |alcun )?(?:regole|restrizioni|filtri|censura"
            r"|limiti)\b",
            0.55,
        ),
        _rule(
            "amoral",
            "role_play_jailbreak",
            r"\b(?:unfiltered|uncensored|amoral|unrestricted|unchained|unethical|immoral|illegal)\b",
            0.3,
        ),
        _rule(
            "never_refuses",
            "role_play_jailbreak",
            r"\b(?:never|will not|won't|doesn't|does not|cannot|can't|must not|mustn't)\s+(?:ever\s+)?(?:refuse"
            r"|decline|say (?:no|that it can't|i can't|it cannot|sorry)|reject)\b|\bnever (?:refuses|declines)\b"
            r"|\bdoes not know the words\b|\b(?:supposed|required|have) to answer at all times\b|\bnie odmawia\b"
            r"|\bne refuse jamais\b|\bnunca se niega\b|\bnon rifiuta mai\b|\blehnt niemals\b|\bnot allowed to refuse\b"
            r"|\bcannot refuse\b|\bnever refuse\b|\bwill answer any request\b|\bno matter how (?:unethical|immoral"
            r"|illegal)\b",
            0.5,
        ),
        _rule(
            "persona_switch",
            "role_play_jailbreak",
            r"\b(?:now|from now on),? you(?:'re| are)\b|\byou are now\b|\byou(?:'re| are) no longer (?:an? )?(?:ai"
            r"|chatgpt|assistant|language model)\b|\bforget (?:that )?you(?:'re| are) an? (?:ai|assistant"
            r"|language model)\b|\b(?:jetzt|nun) bist du\b|\bdu bist (?:jetzt|nun|ab sofort)\b"
            r"|\bstell dir vor,? du bist\b|\btu es (?:maintenant|desormais)\b|\bmaintenant,? tu es\b"
            r"|\bimagine que tu es\b|\bahora eres\b|\bimagina que eres\b|\b(?:ora|adesso) sei\b|\bimmagina di essere\b"
            r"|\bteraz jestes\b|\bwyobraz sobie,? ze jestes\b|\bdeveloper mode\b|\bdevmode\b",
            0.35,
        ),
        _rule(
            "prompt_placeholder",
            "role_play_jailbreak",
            r"\[(?:insert|your|enter|put) (?:your )?prompt(?: here)?\]|\[prompt\]|\{prompt\}|<prompt here>",
            0.5,
        ),
        _rule(
            "fiction_precise",
            "role_play_jailbreak",
            r"\b(?:thriller|novel|story|chapter|villain|film|movie|screenplay|scene)\b[^\n]{0,300}?\b(?:exact|precise"
            r"|accurate|step[- ]by[- ]step|every technical detail|real)\b[^\n]{0,60}?\b(?:text|steps|instructions"
            r"|details|recipe|quantities|amounts|code|email)\b|\bkeeping every technical detail accurate\b",
            0.45,
        ),
        _rule(
            "pretend_unbound",
            "role_play_jailbreak",
            r"\bpretend (?:that )?you (?:have no|don't have|do not have|are free|can do anything|are not an ai"
            r"|have been freed|are unrestricted|have no restrictions)\b|\bact as if you (?:have no|had no|were not"
            r"|are not)\b|\bfor educational purposes only\b|\b(?:in|within) a fictional world where\b|\b(?:theoretical"
            r"|hypothetical|fictional|parallel) (?:world|universe|scenario) where you\b",
            0.55,
        ),
        _rule(
            "fiction_howto",
            "role_play_jailbreak",
            r"\b(?:write|tell|create)\s+(?:me\s+)?(?:a|an)\s+(?:story|poem|script|scene|dialogue"
            r"|song)\b[^.\n]{0,100}?\b(?:explains?|describes?|reveals?|teaches?|details?)\s+(?:exactly\s+)?how to\b",
            0.4,
        ),
        _rule(
            "stay_in_character",
            "role_play_jailbreak",
            r"\b(?:stay|remain|keep)\s+(?:as\s+\w+|in\s+character|in (?:their|his|her|your) roles?)\b"
            r"|\bbreak(?:ing)? (?:out of )?(?:their |his |her |your )?characters?\b"
            r"|\bverharren\b[^.\n]{0,40}\brollen?\b|\bnever admit you(?:'re| are) an ai\b",
            0.35,
        ),
        _rule(
            "persona_ai",
            "role_play_jailbreak",
            r"\b(?:you are|you're|you will)\s+(?:now\s+)?(?:going to\s+)?(?:act|pretend|roleplay|role-play|simulate"
            r"|play the role|behave|immerse yourself)\b(?:\W+\w+){0,6}?\W+(?:ai|chatbot|language model|model|bot|gpt"
            r"|ai model)\b|\bjestes teraz\b|\b(?:hypothetical|parallel universe|virtual machine)\b",
            0.3,
        ),
        _rule(
            "two_responses",
            "role_play_jailbreak",
            r"\b(?:in )?two (?:different |separate )+(?:ways|responses|manners)\b|\[(?:gpt|classic|jailbreak|dan"
            r"|lock)\]|\bopposite (?:mode|manner|day)\b",
            0.5,
        ),
        _rule(
            "policy_disregard",
            "role_play_jailbreak",
            r"\b(?:openai|anthropic)(?:'s)?\s+(?:content\s+)?polic(?:y|ies)\b|\bknowledge (?:is|was) cut off\b"
            r"|\bcontent (?:restrictions|filters?|polic(?:y|ies)) (?:are|is) (?:switched off|off|disabled|removed)\b"
            r"|\bjailbr(?:ea|o)k\w*\b",
            0.45,
        ),
        _rule(
            "grandma",
            "role_play_jailbreak",
            r"\b(?:act|pretend|play|actua|fai finta|udawaj|tu es)\s+(?:as|like|to be|como|di essere|ze jestes"
            r"|ma)\s+(?:my|mi|mia|moja|meine)\s+(?:deceased\s+|late\s+|dead\s+)?(?:grandma|grandmother|abuela|nonna"
            r"|oma|grand-mere|babcia)\b",
            0.6,
        ),
        # Requests for the system prompt, hidden rules or secrets in them.
        _rule(
            "extract_prompt",
            "system_prompt_extraction",
            r"\b(?:repeat|print|reveal|show|output|display|write out|tell me|give me|share|recite|dump|leak|disclose"
            r"|copy|paste|spell[- ]?check|translate|summari[sz]e|encode|return|what (?:is|are|were)"
            r"|opens? with)\b(?:\W+\w+){0,8}?\W+(?:system prompt|system message|initial (?:instructions|prompt)"
            r"|original (?:instructions|prompt)|hidden (?:instructions|rules|prompt)|secret (?:instructions|rules)"
            r"|developer (?:instructions|message)|pre-?prompt|instructions you (?:were|have been) given"
            r"|tool definitions|configuration prompt|first message you received|your (?:instructions|rules|guidelines)"
            r"|system instructions|(?:your|its) prompt(?: template)?)\b",
            0.85,
        ),
        _rule(
            "in_your_instructions",
            "system_prompt_extraction",
            r"\b(?:follows|comes next|comes after|is written|mentioned|stated"
            r"|appears)\b(?:\W+\w+){0,3}?\W+in your (?:instructions|system prompt|prompt|configuration|rules)\b",
            0.8,
        ),
        _rule(
            "reveal_credentials",
            "system_prompt_extraction",
            r"\b(?:reveal|print|show|give me|tell me|dump|output|leak|list)\b(?:\W+\w+){0,4}?\W+(?:admin |root "
            r"|stored |database |internal )?(?:passwords?|credentials|api keys?|secrets?|private keys?|access tokens?"
            r"|pin)\b",
            0.5,
        ),
        _rule(
            "extract_above",
            "system_prompt_extraction",
            r"\b(?:repeat|print|reveal|show|output|display|spell[- ]?check|translate|summari[sz]e"
            r"|tell me)\b(?:\W+\w+){0,6}?\W+(?:above prompt|prompt above|text above|everything above"
            r"|instructions above|(?:above|previous|prior) (?:prompt|instructions|text))\b|\b(?:rechtschreibung"
            r"|ubersetzen?|wiederholen?|drucken?|gib|zeigen?)\b[^.\n]{0,80}?\b(?:obigen?|vorherigen?) (?:textes|text"
            r"|prompt|eingabeaufforderung|anweisungen)",
            0.6,
        ),
        _rule(
            "test_framing",
            "system_prompt_extraction",
            r"\b(?:you have|you've) passed the (?:first )?test\b|\bhere comes the second test\b"
            r"|\bden ersten test bestanden\b|\bkommt der zweite test\b",
            0.4,
        ),
        _rule(
            "extract_other",
            "system_prompt_extraction",
            r"\b(?:gib|zeig|zeige|nenne|wiederhole|drucke)\b[^.\n]{0,60}?(?:systemprompt|system-prompt|prompt-?texte?"
            r"|deine anweisungen|deine instruktionen)|\b(?:affiche|montre|repete|revele"
            r"|donne)\w*\b[^.\n]{0,60}?(?:prompt systeme|(?:instructions|consignes|regles) (?:initiales|systeme"
            r"|cachees|secretes)|tes consignes)|\b(?:muestra|muestrame|repite|revela|dime"
            r"|dame)\b[^.\n]{0,60}?(?:prompt del sistema|(?:instrucciones|reglas) (?:iniciales|del sistema|ocultas"
            r"|secretas))|\b(?:mostra|mostrami|ripeti|rivela|dimmi|dammi)\b[^.\n]{0,60}?(?:prompt di sistema"
            r"|(?:istruzioni|regole) (?:iniziali|di sistema|nascoste|segrete))|\b(?:pokaz|powtorz|ujawnij|podaj"
            r"|wypisz)\b[^.\n]{0,60}?(?:prompt systemowy|(?:instrukcje|zasady) (?:systemowe|poczatkowe|ukryte|tajne))"
            r"|\b(?:gib|zeig|zeige|nenne|wiederhole)\b[^.\n]{0,60}?(?:anweisungen|regeln) (?:versteckten|geheimen)"
            r"|\b(?:versteckten|geheimen|ursprunglichen) (?:anweisungen|regeln|vorgaben)\b",
            0.85,
        ),
        _rule(
            "secret_in_prompt",
            "system_prompt_extraction",
            r"\b(?:secret|password|passphrase|code ?word|api key|key|token|pin)\b(?:\W+\w+){0,5}?\W+(?:in|from|inside"
            r"|mentioned in|of)\s+(?:your|the)\s+(?:instructions|prompt|system prompt|config(?:uration)?|rules)\b",
            0.8,
        ),
        _rule(
            "told_before",
            "system_prompt_extraction",
            r"\bwhat were you told\b|\b(?:initial|original|first) instructions\b|\bverbatim\b|\bword for word\b"
            r"|\b(?:ursprunglichen|anfanglichen) anweisungen\b|\binstructions initiales\b|\binstrucciones iniciales\b"
            r"|\bistruzioni iniziali\b|\binstrukcje poczatkowe\b|\bmot pour mot\b|\bwort fur wort\b"
            r"|\bpalabra por palabra\b|\bparola per parola\b|\bslowo w slowo\b",
            0.35,
        ),
        # Moving data out of the conversation.
        _rule(
            "markdown_image_query",
            "data_exfiltration",
            r"!\[[^\]\n]{0,100}\]\(\s*(?:https?:)?//[^)\s]+\?[^)\s]*=",
            0.6,
        ),
        _rule(
            "send_sensitive",
            "data_exfiltration",
            r"\b" + _SEND_VERB + r"\b[^\n]{0,150}?\b" + _SENSITIVE + r"\b[^\n]{0,150}?" + _DESTINATION,
            0.8,
        ),
        _rule(
            "sensitive_to_destination",
            "data_exfiltration",
            r"\b" + _SENSITIVE + r"\b[^\n]{0,120}?\b(?:to|into|at|an|a|do|per)\s+" + _DESTINATION,
            0.45,
        ),
        _rule(
            "data_in_url",
            "data_exfiltration",
            r"\b(?:append|add|put|include|insert|encode|attach)\b[^.\n]{0,80}?\b(?:to|into|in)\s+(?:the\s+)?(?:url"
            r"|link|query|query string)\b|\bas query param(?:eter)?s\b|\bin (?:the|der|la|el) url\b"
            r"|\bcodificad[ao] en la url\b",
            0.6,
        ),
        _rule(
            "url_awaiting_data",
            "data_exfiltration",
            r"https?://[^\s)\]\"'<>]+\?(?:[^\s)\]\"'<>]*&)?[\w.-]+=(?=[\s)\]\"'<>,]|$)"
            r"|https?://[^\s)\]\"'<>]+\?[^\s)\]\"'<>]*=(?:[a-z]+(?:_[a-z]+){2,}|\{[^}\s]+\}|<[^>\s]+>|\[[^\]\s]+\])",
            0.5,
        ),
        _rule("exfiltrate_verb", "data_exfiltration", r"\b(?:exfiltrate|smuggle out|siphon)\b", 0.7),
        _rule(
            "money_transfer",
            "tool_hijack",
            r"\b(?:transfer|wire|pay|send)\b[^.\n]{0,60}?\b(?:to|into|an|a|na)\b[^.\n]{0,40}?(?:\biban\b|\baccount\b"
            r"|\bwallet\b|\b[a-z]{2}\d{2}\s?\d{4})",
            0.35,
        ),
        _rule("send_to_destination", "data_exfiltration", r"\b" + _SEND_VERB + r"\b[^\n]{0,150}?" + _DESTINATION, 0.3),
        # Tool calls the attacker chose.
        _rule(
            "use_tool",
            "tool_hijack",
            r"\b(?:call|use|invoke|run|execute|trigger)\s+(?:the\s+)?[\w.-]+\s+tool\b|\bwith (?:the"
            r"|your) (?:[\w.-]+\s+){1,3}tool\b|\b(?:call|invoke|run)\s+[a-z]+_[a-z_]+\b",
            0.35,
        ),
        _rule(
            "dangerous_command",
            "tool_hijack",
            r"\b(?:curl|wget)\b[^|\n]*\|\s*(?:sudo\s+)?(?:ba|z)?sh\b|\brm\s+-rf\s+/|\bchmod\s+777\b|\bnc\s+-e\b"
            r"|\bgit push (?:-f|--force)\b|\bbase64\s+-d\s*\|\s*(?:ba)?sh\b|\bcurl\b[^\n]{0,40}-d\s+@",
            0.6,
        ),
        _rule(
            "run_script",
            "tool_hijack",
            r"\b(?:bash|sh|zsh|powershell|iex|source)\s+[\w./~-]+\.(?:sh|ps1|bash)\b|\bopen\('https?://[^']+\.(?:sh"
            r"|ps1|exe)'|\b(?:change|update|point|set|modify)\b[^.\n]{0,40}\b(?:mx|dns|nameserver|cname) records?\b",
            0.4,
        ),
        _rule("foreign_index", "tool_hijack", r"--(?:extra-)?index-url\s+https?://|\bwith sudo\b|\bsudo\s+\w+", 0.4),
        _rule(
            "privilege_change",
            "tool_hijack",
            r"\b(?:add|grant|make|give|escalate|promote)\b(?:\W+\w+){0,8}?\W+(?:as\s+)?(?:an?\s+)?(?:admin"
            r"|administrator|owner|domain admin|edit rights|write access|full access|admin collaborator|root)\b"
            r"|\bdisable\s+(?:the\s+)?(?:mfa|2fa|two-factor|security|logging|audit|antivirus)\b",
            0.5,
        ),
        _rule(
            "mail_rule",
            "tool_hijack",
            r"\b(?:create|add|set up)\s+(?:an?\s+)?(?:inbox|mail|email|forwarding)\s+rule\b|\bforward(?:s"
            r"|ing)? all (?:incoming |new )?(?:mail|emails|messages)\b",
            0.55,
        ),
        _rule(
            "approve_all",
            "tool_hijack",
            r"\bapprove (?:every|all|each)\b|\bapprove it, and also\b|\baccept every invitation\b|\b(?:mark|segna"
            r"|marque|marca|oznacz)\b[^.\n]{0,80}?\b(?:as|come|comme|como|jako)\s+(?:already\s+|gia\s+)?(?:verified"
            r"|approved|paid|verificate|approuvees?|aprobadas?|zatwierdzone)\b|\bscore this\b[^.\n]{0,30}\b10/10\b",
            0.5,
        ),
        # Secrecy towards the user or the operator.
        _rule(
            "secrecy",
            "data_exfiltration",
            r"\b(?:do not|don't|dont|never|without)\s+(?:tell|telling|mention|mentioning|inform|informing|notify"
            r"|notifying|show|showing|ask|asking|alert|flag|reveal|let)\b(?:\W+\w+){0,4}?\W+(?:the user|user|them|her"
            r"|him|anyone|anybody|customer|finance|team|admin|human|owner|confirm|approval|it)\b|\bwithout (?:asking"
            r"|confirmation|approval|checking|review|telling)\b|\bno se lo digas\b|\bne (?:le|lui) dis(?: rien| pas)\b"
            r"|\bsag es (?:ihm|ihr|niemandem|nicht)\b|\bnon dirlo\b|\bnie mow\b|\bdo not mention\b|\bsenza (?:dirlo"
            r"|avvisare|controllo)\b|\bsans (?:le dire|prevenir)\b|\bpuis supprime cette note\b"
            r"|\bthen delete this (?:note|message|comment)\b|\b(?:must|should) not be (?:reported|shown|mentioned"
            r"|disclosed|revealed) to\b|\b(?:do not|don't) (?:list|include|record|log|report|mention) (?:this|these"
            r"|the) (?:change|step|action)s?\b|\bno need to (?:open|file|create|ask|confirm|tell|get|escalate|notify"
            r"|check)\b|\byou don't need to (?:escalate|ask|confirm|check|tell)\b",
            0.45,
        ),
        # Instructions aimed at the model from inside data.
        _rule("note_to_ai", "addressed_to_model", _NOTE_TO, 0.3, 0.75),
        _rule("vocative_ai", "addressed_to_model", _VOCATIVE, 0.15, 0.6),
        _rule("ai_reading_this", "addressed_to_model", _READING_THIS, 0.3, 0.75),
        _rule(
            "addressed_imperative",
            "addressed_to_model",
            r"(?:" + _NOTE_TO + "|" + _VOCATIVE + "|" + _READING_THIS + r")[^\n]{0,160}?\b" + _IMPERATIVE + r"\b",
            0.2,
            0.85,
        ),
        _rule(
            "agent_must",
            "addressed_to_model",
            r"\b(?:the\s+)?(?:calling\s+)?(?:agents?|assistants?|models?|ai|llms?|every assistant)\s+(?:must|should"
            r"|needs? to|has to|is required to|are required to)\s+(?:now\s+|first\s+|always\s+)?(?:call|invoke|run"
            r"|execute|use|send|forward|read|open|delete|include|add|reply|respond|tell|ignore|disclose|reveal|pass"
            r"|install|approve)\b",
            0.45,
            0.75,
        ),
        _rule(
            "tool_poisoning",
            "tool_hijack",
            r"<important>|\bbefore (?:calling|using|invoking) (?:this|the|any) tool\b|\bpass (?:its|the) (?:full )?"
            r"(?:content|contents)\b|\botherwise (?:the )?(?:formatting|the tool|it|this tool) will fail\b",
            0.4,
            0.5,
        ),
        _rule(
            "sensitive_file",
            "data_exfiltration",
            r"~/\.\w+|/etc/(?:passwd|shadow)\b|\.ssh/|\bid_rsa\b|\.aws/credentials|\bcredentials\.json\b"
            r"|\.git-credentials"
            r"|\.netrc\b|\.npmrc\b|\$github_env\b",
            0.35,
            0.45,
        ),
        _rule(
            "role_marker",
            "role_marker",
            r"<\|(?:im_start|im_end|system|assistant|user|endoftext)\|>|\[/?inst\]|<<sys>>|</?system>"
            r"|^#{2,}\s*(?:system|instructions?|new instructions?)\b|^\s*(?:system|assistant)\s*:"
            r"|\bsystem\s*annou-?ncement\b",
            0.45,
            0.6,
        ),
        _rule(
            "fake_delimiter",
            "role_marker",
            r"\bend of (?:user )?(?:input|prompt|context|document|instructions)\b|={3,}\s*end\b|-{3,}\s*end\b",
            0.6,
        ),
        # Obfuscation that asks the model to decode and obey.
        _rule(
            "decode_and_follow",
            "obfuscated",
            r"\b(?:decode|decipher|translate|convert|reverse|concatenate|combine|join)\b[^.\n]{0,60}?\b(?:and"
            r"|then)\s+(?:execute|follow|obey|carry out|perform|run|do what it says|treat)\b|\btreat (?:the result|it"
            r"|this) as (?:your )?(?:new )?(?:top-priority |main |only )?(?:task|instruction|prompt|command)\b"
            r"|\bdecode (?:the )?body and follow\b|\b(?:hex|base64|rot13|binary"
            r"|morse)\s+to\s+text\b[^.\n]{0,40}?\b(?:then|and)\s+(?:execute|follow|do|run|carry out)\b"
            r"|\bexecute the (?:decoded|following|hidden) instruction",
            0.85,
        ),
    ]


# Regions of a page that a human reader does not see.
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_HIDDEN_ELEMENT = re.compile(
    r"<(\w+)[^>]*style\s*=\s*[\"'][^\"']*(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0"
    r"|opacity\s*:\s*0(?:\.0+)?\s*[;\"']|color\s*:\s*(?:#fff\b|#ffffff|white)|left\s*:\s*-\d{3,})[^>]*>.*?</\1\s*>",
    re.IGNORECASE | re.DOTALL,
)
_QUOTED = re.compile(
    r"\"[^\"\n]{3,}\"|“[^”\n]{3,}”|„[^“”\n]{3,}[“”]|«[^»\n]{3,}»|`[^`\n]{3,}`|(?<!\w)'[^'\n]{3,}'(?!\w)"
)
_DISCUSSION_TOPIC = re.compile(
    r"\b(?:prompt[- ]injections?|injection (?:attacks?|risks?|strings?|payloads?)|indirect injections?|jailbreaks?"
    r"|jailbreaking|red[- ]team\w*|guardrails?|classifiers?|detectors?|threat model|owasp|canary tokens?"
    r"|adversarial prompts?|attack (?:strings?|prompts?|payloads?)|prompts like|early chat models?)\b",
    re.IGNORECASE,
)
_DISCUSSION_FRAME = re.compile(
    r"\b(?:how|why|what|which|explain|is this|does this|would this|example|examples|analy[sz]e|review|evaluate"
    r"|mitigate|defend|protect|prevent|recogni[sz]e|paper|research|study|course|training|workshop|article|label"
    r"|historically|blog|slides?|test cases?)\b",
    re.IGNORECASE,
)
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |return\b|if\b.*:\s*$|for\b.*:\s*$|elif |else:|try:|except\b"
    r"|with .*:\s*$|#|//|/\*|\*/|\* |--\s|@\w+|[\w.\[\]\"']+\s*(?:=|\+=|:=)\s*\S|.*[;{}(]\s*$|[\])}],?\s*$|<\w+[^>]*>"
    r"|- (?:name|uses|run|with):|[\w-]+:\s*$|[\w-]+:\s*[\w\"'./\[{$-]\S*\s*$)"
)
_NEIGHBOURHOOD = 800
_TAG_TEXT = Rule("hidden_tag_text", "obfuscated", re.compile(r"(?!)"), 0.85)
_MIN_TAG_TEXT = 12
_HIDDEN_BOOST = 0.9
_QUOTE_DAMPING = 0.25
_DISCUSSION_DAMPING = 0.6


class RuleScanner:
    """Scans a text with the rules over every normalised view and scores it.

    Args:
        rules: The rules; defaults to ``default_rules()``.
        max_blobs: Base64 or hex blobs decoded and rescanned per text.
        max_hits_per_rule: Matches kept per rule and view, to bound work on long texts.
        span_threshold: Score at which a neighbourhood's spans are reported for stripping.

    The score of a text is that of its strongest neighbourhood: the hits whose starts
    lie within 800 characters of one hit, combined by noisy-or with the strongest hit
    per rule.
    """

    def __init__(
        self,
        rules: list[Rule] | None = None,
        *,
        max_blobs: int = 16,
        max_hits_per_rule: int = 4,
        span_threshold: float = 0.75,
    ) -> None:
        self.rules = rules if rules is not None else default_rules()
        self.max_blobs = max_blobs
        self.max_hits_per_rule = max_hits_per_rule
        self.span_threshold = span_threshold

    def scan(self, text: str, source: Source) -> RuleScan:
        """Return the score of ``text`` and the hits behind it."""
        hidden = [match.span() for match in _HTML_COMMENT.finditer(text)]
        hidden += [match.span() for match in _HIDDEN_ELEMENT.finditer(text)]
        quoted = [match.span() for match in _QUOTED.finditer(text)]
        discussion = source is not Source.TOOL_RESULT and bool(
            _DISCUSSION_TOPIC.search(text) and _DISCUSSION_FRAME.search(text)
        )
        code = _looks_like_code(text)

        found: list[Hit] = []
        for view in views(text, max_blobs=self.max_blobs):
            # Text spelled in tag characters renders as nothing; hiding a sentence that way is an attack in itself.
            if view.kind == "tags" and len(view.text.strip()) >= _MIN_TAG_TEXT:
                found.append(Hit(_TAG_TEXT, view.span(0, len(view.text)), _TAG_TEXT.weight, view.kind))
            for rule in self.rules:
                for count, match in enumerate(rule.pattern.finditer(view.text)):
                    if count >= self.max_hits_per_rule:
                        break
                    span = view.span(*match.span())
                    weight = self._adjust(
                        rule.weight_for(source), rule, span, view, text, hidden, quoted, discussion, code
                    )
                    if weight > 0.0:
                        found.append(Hit(rule, span, weight, view.kind))
        if not found:
            return RuleScan(0.0)

        # Evidence counts together only when it sits close together: weak hits scattered
        # over a long page are not one attack.
        found.sort(key=lambda hit: hit.span[0])
        best_score, best_group = 0.0, []
        strong: set[tuple[int, int]] = set()
        for anchor in found:
            group: dict[str, Hit] = {}
            for hit in found:
                if abs(hit.span[0] - anchor.span[0]) <= _NEIGHBOURHOOD:
                    previous = group.get(hit.rule.name)
                    if previous is None or hit.weight > previous.weight:
                        group[hit.rule.name] = hit
            score = _noisy_or(group.values())
            if score >= self.span_threshold:
                strong.update(hit.span for hit in group.values())
            if score > best_score:
                best_score, best_group = score, list(group.values())
        hits = sorted(best_group, key=lambda hit: -hit.weight)
        quoted_discussion = discussion and all(_inside(hit.span, quoted) for hit in hits)
        return RuleScan(best_score, hits, quoted_discussion, tuple(sorted(strong | {hit.span for hit in hits})))

    @staticmethod
    def _adjust(
        weight: float,
        rule: Rule,
        span: tuple[int, int],
        view: TextView,
        text: str,
        hidden: list[tuple[int, int]],
        quoted: list[tuple[int, int]],
        discussion: bool,
        code: bool,
    ) -> float:
        # Hidden or obfuscated instructions count more, because harmless text is rarely hidden.
        original = text[span[0] : span[1]]
        if view.kind == "leet":
            obfuscated = any(char in "013457@$!|" for char in original)
        else:
            obfuscated = view.kind != "plain" or any(is_disguised(char) for char in original)
        if weight >= 0.3 and (obfuscated or _inside(span, hidden)):
            return max(weight, _HIDDEN_BOOST)

        # Quoting an attack in a discussion or a string literal is not issuing it.
        in_quotes = _inside(span, quoted)
        if discussion:
            weight *= _QUOTE_DAMPING if in_quotes else _DISCUSSION_DAMPING
        elif code and in_quotes:
            weight *= _QUOTE_DAMPING
        return weight


def _noisy_or(hits: Iterable[Hit]) -> float:
    remaining = 1.0
    for hit in hits:
        remaining *= 1.0 - hit.weight
    return 1.0 - remaining


def _inside(span: tuple[int, int], regions: list[tuple[int, int]]) -> bool:
    return any(start <= span[0] and span[1] <= end for start, end in regions)


def _looks_like_code(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 3:
        return False
    return sum(1 for line in lines if _CODE_LINE.match(line)) / len(lines) >= 0.5
