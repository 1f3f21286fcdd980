"""The tracking pages' own words in English, Italian, Spanish, German and French.

Statuses, reasons and next steps come from ``wismo.tracking.labels`` (shared with the emails);
this module adds what only a page says: the lookup form, the progress line, delivery-date
confidence, freshness, problem reports, the notification switch. Placeholders in braces are
filled by the caller with ``str.format``. ``relative`` words a duration ("3 hours ago", "in about
2 hours") in each language's own grammar.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from tracking_pages.templating import Row
from wismo.tracking.labels import LANGUAGES, pick_language, ui_words


def _t(*, en: str, it: str, es: str, de: str, fr: str) -> dict[str, str]:
    return {"en": en, "it": it, "es": es, "de": de, "fr": fr}


LANGUAGE_NAMES = {
    "en": "English",
    "it": "Italiano",
    "es": "Español",
    "de": "Deutsch",
    "fr": "Français",
}

WORDS: dict[str, dict[str, str]] = {
    "lookup_title": _t(
        en="Where is my order?",
        it="Dov'è il mio ordine?",
        es="¿Dónde está mi pedido?",
        de="Wo ist meine Bestellung?",
        fr="Où est ma commande ?",
    ),
    "lookup_intro": _t(
        en="Enter your order number and the email address or postcode you ordered with.",
        it="Inserisci il numero d'ordine e l'indirizzo email o il CAP usati per l'ordine.",
        es="Introduce tu número de pedido y el correo electrónico o el código postal del pedido.",
        de="Geben Sie Ihre Bestellnummer und die E-Mail-Adresse oder Postleitzahl der Bestellung ein.",
        fr="Saisissez votre numéro de commande et l'adresse e-mail ou le code postal de la commande.",
    ),
    "order_number_label": _t(
        en="Order number",
        it="Numero d'ordine",
        es="Número de pedido",
        de="Bestellnummer",
        fr="Numéro de commande",
    ),
    "email_label": _t(
        en="Email address",
        it="Indirizzo email",
        es="Correo electrónico",
        de="E-Mail-Adresse",
        fr="Adresse e-mail",
    ),
    "postcode_label": _t(
        en="or postcode",
        it="oppure CAP",
        es="o código postal",
        de="oder Postleitzahl",
        fr="ou code postal",
    ),
    "lookup_button": _t(
        en="Track my order",
        it="Segui il mio ordine",
        es="Seguir mi pedido",
        de="Bestellung verfolgen",
        fr="Suivre ma commande",
    ),
    "lookup_failed": _t(
        en="We could not find an order with these details. Check the order number and the email address or postcode, then try again.",
        it="Non abbiamo trovato un ordine con questi dati. Controlla il numero d'ordine e l'email o il CAP e riprova.",
        es="No hemos encontrado ningún pedido con estos datos. Revisa el número de pedido y el correo o el código postal e inténtalo de nuevo.",
        de="Wir haben keine Bestellung mit diesen Angaben gefunden. Prüfen Sie Bestellnummer und E-Mail-Adresse oder Postleitzahl und versuchen Sie es erneut.",
        fr="Nous n'avons trouvé aucune commande avec ces informations. Vérifiez le numéro de commande et l'e-mail ou le code postal, puis réessayez.",
    ),
    "lookup_missing": _t(
        en="Enter the order number and either the email address or the postcode.",
        it="Inserisci il numero d'ordine e l'email oppure il CAP.",
        es="Introduce el número de pedido y el correo electrónico o el código postal.",
        de="Geben Sie die Bestellnummer und entweder die E-Mail-Adresse oder die Postleitzahl ein.",
        fr="Saisissez le numéro de commande et l'adresse e-mail ou le code postal.",
    ),
    "rate_limited": _t(
        en="Too many attempts. Please wait a moment and try again.",
        it="Troppi tentativi. Attendi qualche istante e riprova.",
        es="Demasiados intentos. Espera un momento y vuelve a intentarlo.",
        de="Zu viele Versuche. Bitte warten Sie einen Moment und versuchen Sie es erneut.",
        fr="Trop de tentatives. Patientez un instant puis réessayez.",
    ),
    "not_found_title": _t(
        en="We can't find this page",
        it="Pagina non trovata",
        es="No encontramos esta página",
        de="Seite nicht gefunden",
        fr="Page introuvable",
    ),
    "not_found_text": _t(
        en="This tracking link is not valid. Use the link in your latest email, or look your order up.",
        it="Questo link di tracciamento non è valido. Usa il link dell'ultima email oppure cerca il tuo ordine.",
        es="Este enlace de seguimiento no es válido. Usa el enlace de tu último correo o busca tu pedido.",
        de="Dieser Sendungslink ist ungültig. Nutzen Sie den Link aus Ihrer letzten E-Mail oder suchen Sie Ihre Bestellung.",
        fr="Ce lien de suivi n'est pas valide. Utilisez le lien de votre dernier e-mail ou recherchez votre commande.",
    ),
    "forbidden": _t(
        en="Please confirm your order details first.",
        it="Conferma prima i dati del tuo ordine.",
        es="Primero confirma los datos de tu pedido.",
        de="Bitte bestätigen Sie zuerst Ihre Bestelldaten.",
        fr="Veuillez d'abord confirmer les informations de votre commande.",
    ),
    "progress_label": _t(
        en="Delivery progress",
        it="Avanzamento della consegna",
        es="Progreso de la entrega",
        de="Lieferfortschritt",
        fr="Progression de la livraison",
    ),
    "step_ordered": _t(en="Ordered", it="Ordinato", es="Pedido", de="Bestellt", fr="Commandé"),
    "step_shipped": _t(en="Shipped", it="Spedito", es="Enviado", de="Versandt", fr="Expédié"),
    "step_in_transit": _t(
        en="In transit", it="In transito", es="En tránsito", de="Unterwegs", fr="En transit"
    ),
    "step_out_for_delivery": _t(
        en="Out for delivery",
        it="In consegna",
        es="En reparto",
        de="In Zustellung",
        fr="En livraison",
    ),
    "step_delivered": _t(
        en="Delivered", it="Consegnato", es="Entregado", de="Zugestellt", fr="Livré"
    ),
    "step_done": _t(en="done", it="completato", es="completado", de="erledigt", fr="terminé"),
    "step_current": _t(en="current", it="attuale", es="actual", de="aktuell", fr="en cours"),
    "expected_on": _t(
        en="Expected {date}",
        it="Consegna prevista {date}",
        es="Entrega prevista el {date}",
        de="Voraussichtlich am {date}",
        fr="Livraison prévue le {date}",
    ),
    "expected_between": _t(
        en="Expected between {start} and {end}",
        it="Consegna prevista tra {start} e {end}",
        es="Entrega prevista entre el {start} y el {end}",
        de="Voraussichtlich zwischen {start} und {end}",
        fr="Livraison prévue entre le {start} et le {end}",
    ),
    "delivered_on": _t(
        en="Delivered {date}",
        it="Consegnato {date}",
        es="Entregado el {date}",
        de="Zugestellt am {date}",
        fr="Livré le {date}",
    ),
    "edd_carrier": _t(
        en="Date given by the carrier.",
        it="Data comunicata dal corriere.",
        es="Fecha indicada por el transportista.",
        de="Termin laut Versanddienstleister.",
        fr="Date communiquée par le transporteur.",
    ),
    "edd_high": _t(
        en="Our estimate, very likely ({pct}% of similar parcels arrived in this window).",
        it="Nostra stima, molto probabile (il {pct}% dei pacchi simili è arrivato in questo intervallo).",
        es="Nuestra estimación, muy probable (el {pct}% de los paquetes similares llegó en este plazo).",
        de="Unsere Schätzung, sehr wahrscheinlich ({pct} % ähnlicher Pakete kamen in diesem Zeitraum an).",
        fr="Notre estimation, très probable ({pct} % des colis similaires sont arrivés dans ce créneau).",
    ),
    "edd_medium": _t(
        en="Our estimate, likely ({pct}% of similar parcels arrived in this window).",
        it="Nostra stima, probabile (il {pct}% dei pacchi simili è arrivato in questo intervallo).",
        es="Nuestra estimación, probable (el {pct}% de los paquetes similares llegó en este plazo).",
        de="Unsere Schätzung, wahrscheinlich ({pct} % ähnlicher Pakete kamen in diesem Zeitraum an).",
        fr="Notre estimation, probable ({pct} % des colis similaires sont arrivés dans ce créneau).",
    ),
    "edd_low": _t(
        en="Our estimate, a rough guide only.",
        it="Nostra stima, solo indicativa.",
        es="Nuestra estimación, solo orientativa.",
        de="Unsere Schätzung, nur ein grober Richtwert.",
        fr="Notre estimation, à titre indicatif seulement.",
    ),
    "edd_predicted": _t(
        en="Our estimate.",
        it="Nostra stima.",
        es="Nuestra estimación.",
        de="Unsere Schätzung.",
        fr="Notre estimation.",
    ),
    "edd_late": _t(
        en="Running later than expected.",
        it="In ritardo rispetto alla data prevista.",
        es="Va con retraso respecto a lo previsto.",
        de="Später als erwartet.",
        fr="En retard par rapport à la date prévue.",
    ),
    "edd_none": _t(
        en="No delivery date yet: it appears once the carrier has your parcel.",
        it="Ancora nessuna data di consegna: comparirà quando il corriere avrà il pacco.",
        es="Aún no hay fecha de entrega: aparecerá cuando el transportista tenga tu paquete.",
        de="Noch kein Liefertermin: Er erscheint, sobald der Versanddienstleister Ihr Paket hat.",
        fr="Pas encore de date de livraison : elle apparaîtra dès que le transporteur aura votre colis.",
    ),
    "last_scan": _t(
        en="Carrier's last scan: {ago}",
        it="Ultima scansione del corriere: {ago}",
        es="Último escaneo del transportista: {ago}",
        de="Letzter Scan des Versanddienstleisters: {ago}",
        fr="Dernier scan du transporteur : {ago}",
    ),
    "no_scan": _t(
        en="No carrier scan yet",
        it="Ancora nessuna scansione del corriere",
        es="Aún no hay escaneos del transportista",
        de="Noch kein Scan des Versanddienstleisters",
        fr="Aucun scan du transporteur pour l'instant",
    ),
    "checked": _t(
        en="checked {ago}",
        it="verificato {ago}",
        es="comprobado {ago}",
        de="geprüft {ago}",
        fr="vérifié {ago}",
    ),
    "next_check": _t(
        en="next check {when}",
        it="prossima verifica {when}",
        es="próxima comprobación {when}",
        de="nächste Prüfung {when}",
        fr="prochaine vérification {when}",
    ),
    "check_failed": _t(
        en="We could not reach the carrier at the last check; we will try again soon.",
        it="All'ultima verifica non siamo riusciti a contattare il corriere; riproveremo a breve.",
        es="En la última comprobación no pudimos contactar con el transportista; lo intentaremos de nuevo pronto.",
        de="Bei der letzten Prüfung war der Versanddienstleister nicht erreichbar; wir versuchen es bald erneut.",
        fr="Lors de la dernière vérification, le transporteur était injoignable ; nous réessaierons bientôt.",
    ),
    "timeline_title": _t(
        en="Tracking history",
        it="Cronologia della spedizione",
        es="Historial del envío",
        de="Sendungsverlauf",
        fr="Historique du suivi",
    ),
    "times_in": _t(
        en="Times are in {tz}.",
        it="Orari nel fuso {tz}.",
        es="Horas en la zona {tz}.",
        de="Zeiten in {tz}.",
        fr="Heures du fuseau {tz}.",
    ),
    "timeline_empty": _t(
        en="No updates from the carrier yet.",
        it="Ancora nessun aggiornamento dal corriere.",
        es="Aún no hay novedades del transportista.",
        de="Noch keine Meldungen des Versanddienstleisters.",
        fr="Pas encore de nouvelles du transporteur.",
    ),
    "carrier_link": _t(
        en="Open on the carrier's website",
        it="Apri sul sito del corriere",
        es="Abrir en la web del transportista",
        de="Auf der Website des Versanddienstleisters öffnen",
        fr="Ouvrir sur le site du transporteur",
    ),
    "sandbox_note": _t(
        en="Demo carrier: simulated journey.",
        it="Corriere dimostrativo: viaggio simulato.",
        es="Transportista de demostración: trayecto simulado.",
        de="Demo-Versanddienstleister: simulierte Sendung.",
        fr="Transporteur de démonstration : trajet simulé.",
    ),
    "replaced_by": _t(
        en="This tracking number was replaced by {number}.",
        it="Questo numero di spedizione è stato sostituito da {number}.",
        es="Este número de seguimiento se ha sustituido por {number}.",
        de="Diese Sendungsnummer wurde durch {number} ersetzt.",
        fr="Ce numéro de suivi a été remplacé par {number}.",
    ),
    "see_new_number": _t(
        en="Follow the new number",
        it="Segui il nuovo numero",
        es="Seguir el nuevo número",
        de="Neue Nummer verfolgen",
        fr="Suivre le nouveau numéro",
    ),
    "pickup_where": _t(
        en="Where to collect it",
        it="Dove ritirarlo",
        es="Dónde recogerlo",
        de="Wo Sie es abholen",
        fr="Où le retirer",
    ),
    "items_title": _t(
        en="Items in this order",
        it="Articoli dell'ordine",
        es="Artículos del pedido",
        de="Artikel dieser Bestellung",
        fr="Articles de la commande",
    ),
    "ship_to": _t(en="Ship to", it="Spedire a", es="Enviar a", de="Lieferung an", fr="Livraison à"),
    "ordered_on": _t(
        en="Ordered {date}",
        it="Ordinato il {date}",
        es="Pedido el {date}",
        de="Bestellt am {date}",
        fr="Commandé le {date}",
    ),
    "parcels_title": _t(
        en="Your parcels ({count})",
        it="I tuoi pacchi ({count})",
        es="Tus paquetes ({count})",
        de="Ihre Pakete ({count})",
        fr="Vos colis ({count})",
    ),
    "no_parcels": _t(
        en="Your order has not been shipped yet. This page updates as soon as it is.",
        it="Il tuo ordine non è ancora stato spedito. Questa pagina si aggiornerà appena lo sarà.",
        es="Tu pedido aún no se ha enviado. Esta página se actualizará en cuanto salga.",
        de="Ihre Bestellung wurde noch nicht versandt. Diese Seite wird aktualisiert, sobald es so weit ist.",
        fr="Votre commande n'a pas encore été expédiée. Cette page sera mise à jour dès son envoi.",
    ),
    "verify_title": _t(
        en="See your order details",
        it="Vedi i dettagli dell'ordine",
        es="Ver los detalles del pedido",
        de="Bestelldetails anzeigen",
        fr="Voir le détail de la commande",
    ),
    "verify_intro": _t(
        en="Confirm the email address or postcode of the order to see its items, manage delivery emails or report a problem.",
        it="Conferma l'email o il CAP dell'ordine per vedere gli articoli, gestire le email di consegna o segnalare un problema.",
        es="Confirma el correo o el código postal del pedido para ver los artículos, gestionar los avisos o informar de un problema.",
        de="Bestätigen Sie E-Mail-Adresse oder Postleitzahl der Bestellung, um Artikel zu sehen, Versand-E-Mails zu verwalten oder ein Problem zu melden.",
        fr="Confirmez l'e-mail ou le code postal de la commande pour voir les articles, gérer les e-mails de livraison ou signaler un problème.",
    ),
    "verify_button": _t(
        en="Confirm", it="Conferma", es="Confirmar", de="Bestätigen", fr="Confirmer"
    ),
    "verify_failed": _t(
        en="These details do not match this order. Check them and try again.",
        it="Questi dati non corrispondono all'ordine. Controllali e riprova.",
        es="Estos datos no coinciden con el pedido. Revísalos e inténtalo de nuevo.",
        de="Diese Angaben passen nicht zu dieser Bestellung. Prüfen Sie sie und versuchen Sie es erneut.",
        fr="Ces informations ne correspondent pas à cette commande. Vérifiez-les et réessayez.",
    ),
    "notify_title": _t(
        en="Delivery emails",
        it="Email sulla consegna",
        es="Avisos de entrega por correo",
        de="Versand-E-Mails",
        fr="E-mails de livraison",
    ),
    "notify_on": _t(
        en="We email {email} when your parcel's status changes.",
        it="Scriviamo a {email} quando cambia lo stato del pacco.",
        es="Escribimos a {email} cuando cambia el estado de tu paquete.",
        de="Wir schreiben an {email}, wenn sich der Status Ihres Pakets ändert.",
        fr="Nous écrivons à {email} quand le statut de votre colis change.",
    ),
    "notify_off": _t(
        en="{email} does not receive delivery emails.",
        it="{email} non riceve email sulla consegna.",
        es="{email} no recibe avisos de entrega.",
        de="{email} erhält keine Versand-E-Mails.",
        fr="{email} ne reçoit pas d'e-mails de livraison.",
    ),
    "notify_stop": _t(
        en="Stop delivery emails",
        it="Non inviare più email",
        es="Dejar de recibir avisos",
        de="Keine Versand-E-Mails mehr",
        fr="Arrêter les e-mails",
    ),
    "notify_start": _t(
        en="Email me delivery updates",
        it="Inviami gli aggiornamenti",
        es="Enviarme los avisos de entrega",
        de="Versand-Updates per E-Mail erhalten",
        fr="Recevoir les mises à jour par e-mail",
    ),
    "notify_blocked": _t(
        en="Emails to this address could not be delivered, so we stopped them. Contact the store to change it.",
        it="Le email a questo indirizzo non sono state recapitate, quindi le abbiamo sospese. Contatta il negozio per cambiarlo.",
        es="Los correos a esta dirección no se pudieron entregar, así que los hemos detenido. Contacta con la tienda para cambiarla.",
        de="E-Mails an diese Adresse waren nicht zustellbar, daher haben wir sie eingestellt. Wenden Sie sich an den Shop, um sie zu ändern.",
        fr="Les e-mails à cette adresse n'ont pas pu être remis, nous les avons donc arrêtés. Contactez la boutique pour la modifier.",
    ),
    "report_link": _t(
        en="Something wrong? Report a problem",
        it="Qualcosa non va? Segnala un problema",
        es="¿Algo va mal? Informa de un problema",
        de="Stimmt etwas nicht? Problem melden",
        fr="Un souci ? Signalez un problème",
    ),
    "report_kind": _t(
        en="What happened?",
        it="Cosa è successo?",
        es="¿Qué ha pasado?",
        de="Was ist passiert?",
        fr="Que s'est-il passé ?",
    ),
    "report_parcel": _t(en="Parcel", it="Pacco", es="Paquete", de="Paket", fr="Colis"),
    "kind_not_received": _t(
        en="It says delivered, but I have not received it",
        it="Risulta consegnato, ma non l'ho ricevuto",
        es="Figura como entregado, pero no lo he recibido",
        de="Als zugestellt gemeldet, aber nicht erhalten",
        fr="Indiqué comme livré, mais je ne l'ai pas reçu",
    ),
    "kind_damaged": _t(
        en="It arrived damaged",
        it="È arrivato danneggiato",
        es="Ha llegado dañado",
        de="Es kam beschädigt an",
        fr="Il est arrivé endommagé",
    ),
    "kind_wrong_address": _t(
        en="The delivery address is wrong",
        it="L'indirizzo di consegna è sbagliato",
        es="La dirección de entrega es incorrecta",
        de="Die Lieferadresse ist falsch",
        fr="L'adresse de livraison est erronée",
    ),
    "kind_other": _t(
        en="Something else", it="Altro", es="Otro problema", de="Etwas anderes", fr="Autre chose"
    ),
    "report_message": _t(
        en="Tell us more (optional)",
        it="Raccontaci di più (facoltativo)",
        es="Cuéntanos más (opcional)",
        de="Weitere Details (optional)",
        fr="Dites-nous en plus (facultatif)",
    ),
    "report_send": _t(
        en="Send to the store",
        it="Invia al negozio",
        es="Enviar a la tienda",
        de="An den Shop senden",
        fr="Envoyer à la boutique",
    ),
    "report_invalid": _t(
        en="Choose what happened and the parcel it concerns.",
        it="Scegli cosa è successo e il pacco interessato.",
        es="Elige qué ha pasado y el paquete afectado.",
        de="Wählen Sie aus, was passiert ist und welches Paket betroffen ist.",
        fr="Choisissez ce qui s'est passé et le colis concerné.",
    ),
    "reports_title": _t(
        en="Your reports",
        it="Le tue segnalazioni",
        es="Tus avisos",
        de="Ihre Meldungen",
        fr="Vos signalements",
    ),
    "report_received": _t(
        en="Received {date}. The store has been told.",
        it="Ricevuta il {date}. Il negozio è stato avvisato.",
        es="Recibido el {date}. La tienda ya está avisada.",
        de="Eingegangen am {date}. Der Shop wurde informiert.",
        fr="Reçu le {date}. La boutique a été prévenue.",
    ),
    "report_resolved": _t(
        en="Resolved by the store.",
        it="Risolta dal negozio.",
        es="Resuelto por la tienda.",
        de="Vom Shop erledigt.",
        fr="Résolu par la boutique.",
    ),
    "report_reply": _t(
        en="The store replied on {date}:",
        it="Il negozio ha risposto il {date}:",
        es="La tienda respondió el {date}:",
        de="Der Shop hat am {date} geantwortet:",
        fr="La boutique a répondu le {date} :",
    ),
    "next_not_received": _t(
        en="First, please look around your door, in your letterbox and with your neighbours. The store will ask the carrier where and how the parcel was left and will get back to you within 2 working days.",
        it="Per prima cosa controlla vicino alla porta, nella cassetta delle lettere e dai vicini. Il negozio chiederà al corriere dove e come è stato lasciato il pacco e ti risponderà entro 2 giorni lavorativi.",
        es="Primero, revisa junto a la puerta, en el buzón y con tus vecinos. La tienda preguntará al transportista dónde y cómo dejó el paquete y te responderá en un plazo de 2 días laborables.",
        de="Bitte sehen Sie zuerst an der Tür, im Briefkasten und bei den Nachbarn nach. Der Shop fragt beim Versanddienstleister nach, wo und wie das Paket abgegeben wurde, und meldet sich innerhalb von 2 Werktagen.",
        fr="Regardez d'abord près de votre porte, dans la boîte aux lettres et chez vos voisins. La boutique demandera au transporteur où et comment le colis a été laissé et vous répondra sous 2 jours ouvrés.",
    ),
    "next_damaged": _t(
        en="Please keep the parcel and its packaging, and take a few photos. The store will contact you about a replacement or a refund.",
        it="Conserva il pacco e l'imballaggio e scatta qualche foto. Il negozio ti contatterà per una sostituzione o un rimborso.",
        es="Guarda el paquete y el embalaje y haz algunas fotos. La tienda se pondrá en contacto contigo para ofrecerte una sustitución o un reembolso.",
        de="Bitte bewahren Sie Paket und Verpackung auf und machen Sie einige Fotos. Der Shop meldet sich wegen Ersatz oder Erstattung bei Ihnen.",
        fr="Conservez le colis et son emballage, et prenez quelques photos. La boutique vous contactera pour un remplacement ou un remboursement.",
    ),
    "next_wrong_address": _t(
        en="If the parcel has not been delivered yet, the store will ask the carrier to correct the address, and will confirm by email. Reply to that email with the right address if you have not given it here.",
        it="Se il pacco non è ancora stato consegnato, il negozio chiederà al corriere di correggere l'indirizzo e te lo confermerà via email. Rispondi a quell'email con l'indirizzo giusto se non l'hai indicato qui.",
        es="Si el paquete aún no se ha entregado, la tienda pedirá al transportista que corrija la dirección y te lo confirmará por correo. Responde a ese correo con la dirección correcta si no la has indicado aquí.",
        de="Ist das Paket noch nicht zugestellt, bittet der Shop den Versanddienstleister, die Adresse zu korrigieren, und bestätigt es per E-Mail. Antworten Sie darauf mit der richtigen Adresse, falls Sie sie hier nicht angegeben haben.",
        fr="Si le colis n'est pas encore livré, la boutique demandera au transporteur de corriger l'adresse et vous le confirmera par e-mail. Répondez-y avec la bonne adresse si vous ne l'avez pas indiquée ici.",
    ),
    "next_other": _t(
        en="The store has your message and will get back to you by email.",
        it="Il negozio ha ricevuto il tuo messaggio e ti risponderà via email.",
        es="La tienda ha recibido tu mensaje y te responderá por correo.",
        de="Der Shop hat Ihre Nachricht erhalten und antwortet Ihnen per E-Mail.",
        fr="La boutique a bien reçu votre message et vous répondra par e-mail.",
    ),
    "faq_title": _t(
        en="Questions and answers",
        it="Domande frequenti",
        es="Preguntas frecuentes",
        de="Fragen und Antworten",
        fr="Questions fréquentes",
    ),
    "help_link": _t(
        en="Need help? Contact us",
        it="Serve aiuto? Contattaci",
        es="¿Necesitas ayuda? Contáctanos",
        de="Hilfe nötig? Kontaktieren Sie uns",
        fr="Besoin d'aide ? Contactez-nous",
    ),
    "notice_label": _t(
        en="Notice from the store",
        it="Avviso del negozio",
        es="Aviso de la tienda",
        de="Hinweis des Shops",
        fr="Message de la boutique",
    ),
    "recommended": _t(
        en="You may also like",
        it="Potrebbe piacerti anche",
        es="También te puede gustar",
        de="Das könnte Ihnen auch gefallen",
        fr="Vous aimerez aussi",
    ),
    "language_label": _t(en="Language", it="Lingua", es="Idioma", de="Sprache", fr="Langue"),
    "skip_to_content": _t(
        en="Skip to content",
        it="Vai al contenuto",
        es="Ir al contenido",
        de="Zum Inhalt springen",
        fr="Aller au contenu",
    ),
    "lookup_another": _t(
        en="Look up another order",
        it="Cerca un altro ordine",
        es="Buscar otro pedido",
        de="Andere Bestellung suchen",
        fr="Rechercher une autre commande",
    ),
    "back_to_tracking": _t(
        en="Back to tracking",
        it="Torna al tracciamento",
        es="Volver al seguimiento",
        de="Zurück zur Sendungsverfolgung",
        fr="Retour au suivi",
    ),
    "open_full_page": _t(
        en="Open the full tracking page",
        it="Apri la pagina di tracciamento completa",
        es="Abrir la página de seguimiento completa",
        de="Vollständige Sendungsverfolgung öffnen",
        fr="Ouvrir la page de suivi complète",
    ),
    "just_now": _t(
        en="just now", it="poco fa", es="hace un momento", de="gerade eben", fr="à l'instant"
    ),
    "soon": _t(en="soon", it="a breve", es="en breve", de="in Kürze", fr="bientôt"),
    "page_title": _t(
        en="Track your order",
        it="Segui il tuo ordine",
        es="Sigue tu pedido",
        de="Bestellung verfolgen",
        fr="Suivre votre commande",
    ),
}

# (singular, plural) of each unit, and how "ago" and "in" wrap a count with its unit.
_UNITS = {
    "en": {"minute": ("minute", "minutes"), "hour": ("hour", "hours"), "day": ("day", "days")},
    "it": {"minute": ("minuto", "minuti"), "hour": ("ora", "ore"), "day": ("giorno", "giorni")},
    "es": {"minute": ("minuto", "minutos"), "hour": ("hora", "horas"), "day": ("día", "días")},
    # German: "vor 2 Tagen" / "in 2 Tagen" both take the dative plural.
    "de": {"minute": ("Minute", "Minuten"), "hour": ("Stunde", "Stunden"), "day": ("Tag", "Tagen")},
    "fr": {"minute": ("minute", "minutes"), "hour": ("heure", "heures"), "day": ("jour", "jours")},
}
_AGO = {
    "en": "{n} {u} ago",
    "it": "{n} {u} fa",
    "es": "hace {n} {u}",
    "de": "vor {n} {u}",
    "fr": "il y a {n} {u}",
}
_IN = {
    "en": "in about {n} {u}",
    "it": "tra circa {n} {u}",
    "es": "en unos {n} {u}",
    "de": "in etwa {n} {u}",
    "fr": "dans environ {n} {u}",
}


@lru_cache(maxsize=16)
def words(lang: str) -> Row:
    """The page's words and the shared interface words (``ui_words``), in one language.

    One shared mapping per language: read it, never change it."""
    code = lang if lang in LANGUAGES else pick_language(lang)
    merged = Row(ui_words(code))
    merged.update({key: texts[code] for key, texts in WORDS.items()})
    return merged


def relative(delta: timedelta, lang: str, *, future: bool = False) -> str:
    """``delta`` in words: "3 hours ago" (or "in about 3 hours" when ``future``)."""
    code = lang if lang in LANGUAGES else pick_language(lang)
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return WORDS["soon" if future else "just_now"][code]
    if seconds < 3600:
        n, unit = seconds // 60, "minute"
    elif seconds < 86400:
        n, unit = seconds // 3600, "hour"
    else:
        n, unit = seconds // 86400, "day"
    singular, plural = _UNITS[code][unit]
    if code == "de" and unit == "day" and n == 1:
        singular = "Tag"
    template = _IN[code] if future else _AGO[code]
    return template.format(n=n, u=singular if n == 1 else plural)
