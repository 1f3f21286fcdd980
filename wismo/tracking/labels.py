"""Shopper-facing words for statuses and reasons in English, Italian, Spanish, German and French.

Pure data over the taxonomy of ``carriers.statuses``: emails and tracking pages ask for a main
status's label, a substatus's plain-words reason, what happens next, and the fixed interface words
(``ui_words``). Unknown substatuses fall back to their main status's default; unknown languages to
English. Reasons speak of "the store" and "the carrier" so that both emails and pages can use them.
"""

from __future__ import annotations

from carriers.statuses import DEFAULT_SUBSTATUS, SUBSTATUSES, Status

LANGUAGES: tuple[str, ...] = ("en", "it", "es", "de", "fr")
FALLBACK_LANGUAGE = "en"


def _t(*, en: str, it: str, es: str, de: str, fr: str) -> dict[str, str]:
    return {"en": en, "it": it, "es": es, "de": de, "fr": fr}


def pick_language(*candidates: str | None, default: str = FALLBACK_LANGUAGE) -> str:
    """The first candidate whose language part is supported ("fr-CA" -> "fr", "pt_BR" -> "pt").

    A candidate may also be a comma-separated list such as an Accept-Language value; its entries
    are tried in the order written. When nothing fits, ``default`` (itself normalized) or English.
    """
    for candidate in (*candidates, default):
        if not candidate:
            continue
        for entry in str(candidate).split(","):
            code = entry.split(";", 1)[0].strip().replace("_", "-").split("-", 1)[0].lower()
            if code in LANGUAGES:
                return code
    return FALLBACK_LANGUAGE


def _language(lang: str | None) -> str:
    return lang if lang in LANGUAGES else pick_language(lang)


STATUS_LABELS: dict[str, dict[str, str]] = {
    Status.PENDING: _t(
        en="Waiting for the carrier",
        it="In attesa del corriere",
        es="Esperando al transportista",
        de="Wartet auf den Versanddienstleister",
        fr="En attente du transporteur",
    ),
    Status.INFO_RECEIVED: _t(
        en="Label created",
        it="Etichetta creata",
        es="Etiqueta creada",
        de="Versandetikett erstellt",
        fr="Étiquette créée",
    ),
    Status.IN_TRANSIT: _t(
        en="In transit",
        it="In transito",
        es="En tránsito",
        de="Unterwegs",
        fr="En cours d'acheminement",
    ),
    Status.OUT_FOR_DELIVERY: _t(
        en="Out for delivery",
        it="In consegna",
        es="En reparto",
        de="In Zustellung",
        fr="En cours de livraison",
    ),
    Status.AVAILABLE_FOR_PICKUP: _t(
        en="Ready for pickup",
        it="Pronto per il ritiro",
        es="Listo para recoger",
        de="Zur Abholung bereit",
        fr="Disponible au retrait",
    ),
    Status.FAILED_ATTEMPT: _t(
        en="Delivery attempt failed",
        it="Tentativo di consegna non riuscito",
        es="Intento de entrega fallido",
        de="Zustellversuch fehlgeschlagen",
        fr="Tentative de livraison infructueuse",
    ),
    Status.DELIVERED: _t(
        en="Delivered",
        it="Consegnato",
        es="Entregado",
        de="Zugestellt",
        fr="Livré",
    ),
    Status.EXCEPTION: _t(
        en="Delivery issue",
        it="Problema con la consegna",
        es="Incidencia en la entrega",
        de="Problem bei der Zustellung",
        fr="Incident de livraison",
    ),
    Status.EXPIRED: _t(
        en="No recent updates",
        it="Nessun aggiornamento recente",
        es="Sin actualizaciones recientes",
        de="Keine aktuellen Informationen",
        fr="Aucune mise à jour récente",
    ),
}

# Why a parcel is where it is, in plain words.
REASONS: dict[str, dict[str, str]] = {
    "pending.awaiting_carrier": _t(
        en="Your parcel is packed and waiting for the carrier's first scan.",
        it="Il tuo pacco è pronto e attende la prima scansione del corriere.",
        es="Tu paquete está preparado y espera el primer escaneo del transportista.",
        de="Ihr Paket ist verpackt und wartet auf den ersten Scan des Versanddienstleisters.",
        fr="Votre colis est prêt et attend le premier scan du transporteur.",
    ),
    "info_received.label_created": _t(
        en="The shipping label has been created and the carrier has been told about your parcel.",
        it="L'etichetta di spedizione è stata creata e il corriere è stato avvisato.",
        es="Se ha creado la etiqueta de envío y el transportista ya tiene los datos de tu paquete.",
        de="Das Versandetikett wurde erstellt und der Versanddienstleister über Ihr Paket informiert.",
        fr="L'étiquette d'expédition a été créée et le transporteur a été informé de votre colis.",
    ),
    "info_received.awaiting_pickup": _t(
        en="Your parcel is ready and waiting to be collected by the carrier.",
        it="Il tuo pacco è pronto e attende il ritiro da parte del corriere.",
        es="Tu paquete está listo y espera a que el transportista lo recoja.",
        de="Ihr Paket ist versandbereit und wartet auf die Abholung durch den Versanddienstleister.",
        fr="Votre colis est prêt et attend d'être pris en charge par le transporteur.",
    ),
    "in_transit.picked_up": _t(
        en="The carrier has collected your parcel.",
        it="Il corriere ha ritirato il tuo pacco.",
        es="El transportista ha recogido tu paquete.",
        de="Der Versanddienstleister hat Ihr Paket abgeholt.",
        fr="Le transporteur a pris en charge votre colis.",
    ),
    "in_transit.in_transit": _t(
        en="Your parcel is on its way.",
        it="Il tuo pacco è in viaggio.",
        es="Tu paquete está en camino.",
        de="Ihr Paket ist unterwegs.",
        fr="Votre colis est en route.",
    ),
    "in_transit.arrived_at_facility": _t(
        en="Your parcel has arrived at one of the carrier's sorting centres.",
        it="Il tuo pacco è arrivato in un centro di smistamento del corriere.",
        es="Tu paquete ha llegado a un centro de clasificación del transportista.",
        de="Ihr Paket ist in einem Paketzentrum des Versanddienstleisters angekommen.",
        fr="Votre colis est arrivé dans un centre de tri du transporteur.",
    ),
    "in_transit.departed_facility": _t(
        en="Your parcel has left one of the carrier's sorting centres.",
        it="Il tuo pacco è partito da un centro di smistamento del corriere.",
        es="Tu paquete ha salido de un centro de clasificación del transportista.",
        de="Ihr Paket hat ein Paketzentrum des Versanddienstleisters verlassen.",
        fr="Votre colis a quitté un centre de tri du transporteur.",
    ),
    "in_transit.customs_processing": _t(
        en="Your parcel is going through customs.",
        it="Il tuo pacco è in fase di sdoganamento.",
        es="Tu paquete está pasando por la aduana.",
        de="Ihr Paket befindet sich in der Zollabfertigung.",
        fr="Votre colis est en cours de dédouanement.",
    ),
    "in_transit.customs_released": _t(
        en="Customs have cleared your parcel.",
        it="La dogana ha sdoganato il tuo pacco.",
        es="La aduana ha despachado tu paquete.",
        de="Ihr Paket wurde vom Zoll freigegeben.",
        fr="Votre colis a été dédouané.",
    ),
    "in_transit.arrived_destination_country": _t(
        en="Your parcel has arrived in the destination country.",
        it="Il tuo pacco è arrivato nel paese di destinazione.",
        es="Tu paquete ha llegado al país de destino.",
        de="Ihr Paket ist im Zielland angekommen.",
        fr="Votre colis est arrivé dans le pays de destination.",
    ),
    "in_transit.rerouted": _t(
        en="Your parcel has been redirected to a different route or address.",
        it="Il tuo pacco è stato instradato su un percorso o verso un indirizzo diverso.",
        es="Tu paquete se ha desviado a otra ruta o dirección.",
        de="Ihr Paket wurde auf eine andere Route oder an eine andere Adresse umgeleitet.",
        fr="Votre colis a été réacheminé vers un autre itinéraire ou une autre adresse.",
    ),
    "out_for_delivery.out_for_delivery": _t(
        en="Your parcel is with the driver and will be delivered today.",
        it="Il tuo pacco è sul mezzo del corriere e verrà consegnato oggi.",
        es="Tu paquete está en el vehículo de reparto y se entregará hoy.",
        de="Ihr Paket ist beim Zusteller und wird heute zugestellt.",
        fr="Votre colis est chez le livreur et sera livré aujourd'hui.",
    ),
    "available_for_pickup.pickup_point": _t(
        en="Your parcel is waiting for you at a pickup point.",
        it="Il tuo pacco ti aspetta in un punto di ritiro.",
        es="Tu paquete te espera en un punto de recogida.",
        de="Ihr Paket liegt in einer Abholstelle für Sie bereit.",
        fr="Votre colis vous attend dans un point de retrait.",
    ),
    "available_for_pickup.locker": _t(
        en="Your parcel is waiting for you in a parcel locker.",
        it="Il tuo pacco ti aspetta in un armadietto automatico.",
        es="Tu paquete te espera en un casillero automático.",
        de="Ihr Paket liegt in einer Paketstation für Sie bereit.",
        fr="Votre colis vous attend dans une consigne automatique.",
    ),
    "available_for_pickup.post_office": _t(
        en="Your parcel is waiting for you at the post office.",
        it="Il tuo pacco ti aspetta all'ufficio postale.",
        es="Tu paquete te espera en la oficina de correos.",
        de="Ihr Paket liegt in der Postfiliale für Sie bereit.",
        fr="Votre colis vous attend au bureau de poste.",
    ),
    "failed_attempt.recipient_unavailable": _t(
        en="The carrier tried to deliver your parcel, but nobody was available to receive it.",
        it="Il corriere ha provato a consegnare il pacco, ma non c'era nessuno a riceverlo.",
        es="El transportista intentó entregar tu paquete, pero no había nadie para recibirlo.",
        de="Der Zusteller wollte Ihr Paket zustellen, hat aber niemanden angetroffen.",
        fr="Le livreur est passé, mais personne n'était disponible pour réceptionner votre colis.",
    ),
    "failed_attempt.address_issue": _t(
        en="The carrier could not find the delivery address.",
        it="Il corriere non è riuscito a trovare l'indirizzo di consegna.",
        es="El transportista no encontró la dirección de entrega.",
        de="Der Zusteller konnte die Lieferadresse nicht finden.",
        fr="Le livreur n'a pas trouvé l'adresse de livraison.",
    ),
    "failed_attempt.business_closed": _t(
        en="The carrier tried to deliver your parcel, but the business was closed.",
        it="Il corriere ha provato a consegnare il pacco, ma l'attività era chiusa.",
        es="El transportista intentó entregar tu paquete, pero el establecimiento estaba cerrado.",
        de="Der Zusteller wollte Ihr Paket zustellen, aber das Geschäft war geschlossen.",
        fr="Le livreur est passé, mais l'établissement était fermé.",
    ),
    "failed_attempt.other": _t(
        en="The carrier tried to deliver your parcel but could not complete the delivery.",
        it="Il corriere ha provato a consegnare il pacco, ma non è riuscito a completare la consegna.",
        es="El transportista intentó entregar tu paquete, pero no pudo completar la entrega.",
        de="Der Zusteller konnte die Zustellung Ihres Pakets nicht abschließen.",
        fr="Le livreur n'a pas pu effectuer la livraison de votre colis.",
    ),
    "delivered.delivered": _t(
        en="Your parcel has been delivered.",
        it="Il tuo pacco è stato consegnato.",
        es="Tu paquete ha sido entregado.",
        de="Ihr Paket wurde zugestellt.",
        fr="Votre colis a été livré.",
    ),
    "delivered.signed": _t(
        en="Your parcel has been delivered and signed for.",
        it="Il tuo pacco è stato consegnato con firma.",
        es="Tu paquete ha sido entregado con firma.",
        de="Ihr Paket wurde gegen Unterschrift zugestellt.",
        fr="Votre colis a été livré contre signature.",
    ),
    "delivered.neighbor": _t(
        en="Your parcel was left with a neighbour.",
        it="Il tuo pacco è stato lasciato a un vicino.",
        es="Tu paquete se ha dejado a un vecino.",
        de="Ihr Paket wurde bei einem Nachbarn abgegeben.",
        fr="Votre colis a été remis à un voisin.",
    ),
    "delivered.safe_place": _t(
        en="Your parcel was left in a safe place at your address.",
        it="Il tuo pacco è stato lasciato in un luogo sicuro al tuo indirizzo.",
        es="Tu paquete se ha dejado en un lugar seguro de tu domicilio.",
        de="Ihr Paket wurde an einem sicheren Ablageort an Ihrer Adresse hinterlegt.",
        fr="Votre colis a été déposé en lieu sûr à votre adresse.",
    ),
    "delivered.picked_up": _t(
        en="You have collected your parcel.",
        it="Hai ritirato il tuo pacco.",
        es="Has recogido tu paquete.",
        de="Sie haben Ihr Paket abgeholt.",
        fr="Vous avez retiré votre colis.",
    ),
    "exception.customs_hold": _t(
        en="Your parcel is being held by customs.",
        it="Il tuo pacco è trattenuto in dogana.",
        es="Tu paquete está retenido en la aduana.",
        de="Ihr Paket wird vom Zoll zurückgehalten.",
        fr="Votre colis est retenu en douane.",
    ),
    "exception.held_for_payment": _t(
        en="Import duties or fees must be paid before your parcel can be delivered.",
        it="Prima della consegna devono essere pagati dazi o diritti doganali.",
        es="Hay que pagar aranceles o tasas antes de que se entregue tu paquete.",
        de="Vor der Zustellung müssen Einfuhrabgaben oder Gebühren bezahlt werden.",
        fr="Des droits ou frais d'importation doivent être réglés avant la livraison de votre colis.",
    ),
    "exception.address_issue": _t(
        en="There is a problem with the delivery address.",
        it="C'è un problema con l'indirizzo di consegna.",
        es="Hay un problema con la dirección de entrega.",
        de="Es gibt ein Problem mit der Lieferadresse.",
        fr="Il y a un problème avec l'adresse de livraison.",
    ),
    "exception.refused": _t(
        en="The delivery was refused.",
        it="La consegna è stata rifiutata.",
        es="La entrega fue rechazada.",
        de="Die Annahme wurde verweigert.",
        fr="Le colis a été refusé à la livraison.",
    ),
    "exception.damaged": _t(
        en="Your parcel was damaged in transit.",
        it="Il tuo pacco è stato danneggiato durante il trasporto.",
        es="Tu paquete resultó dañado durante el transporte.",
        de="Ihr Paket wurde beim Transport beschädigt.",
        fr="Votre colis a été endommagé pendant le transport.",
    ),
    "exception.lost": _t(
        en="The carrier has reported your parcel as lost.",
        it="Il corriere ha segnalato il tuo pacco come smarrito.",
        es="El transportista ha informado de que tu paquete se ha perdido.",
        de="Der Versanddienstleister hat Ihr Paket als verloren gemeldet.",
        fr="Le transporteur a déclaré votre colis perdu.",
    ),
    "exception.delayed_weather": _t(
        en="Bad weather is delaying your parcel.",
        it="Il maltempo sta rallentando il tuo pacco.",
        es="El mal tiempo está retrasando tu paquete.",
        de="Schlechtes Wetter verzögert Ihr Paket.",
        fr="Les intempéries retardent votre colis.",
    ),
    "exception.delayed": _t(
        en="The carrier has reported a delay.",
        it="Il corriere ha segnalato un ritardo.",
        es="El transportista ha informado de un retraso.",
        de="Der Versanddienstleister hat eine Verzögerung gemeldet.",
        fr="Le transporteur a signalé un retard.",
    ),
    "exception.returning_to_sender": _t(
        en="Your parcel is being returned to the store.",
        it="Il tuo pacco sta tornando al negozio.",
        es="Tu paquete está volviendo a la tienda.",
        de="Ihr Paket wird an den Shop zurückgeschickt.",
        fr="Votre colis est en cours de retour vers la boutique.",
    ),
    "exception.returned_to_sender": _t(
        en="Your parcel has been returned to the store.",
        it="Il tuo pacco è tornato al negozio.",
        es="Tu paquete ha vuelto a la tienda.",
        de="Ihr Paket ist an den Shop zurückgegangen.",
        fr="Votre colis a été retourné à la boutique.",
    ),
    "exception.cancelled": _t(
        en="The shipment has been cancelled.",
        it="La spedizione è stata annullata.",
        es="El envío se ha cancelado.",
        de="Die Sendung wurde storniert.",
        fr="L'envoi a été annulé.",
    ),
    "exception.other": _t(
        en="There is a problem with the delivery of your parcel.",
        it="C'è un problema con la consegna del tuo pacco.",
        es="Hay un problema con la entrega de tu paquete.",
        de="Bei der Zustellung Ihres Pakets ist ein Problem aufgetreten.",
        fr="Un problème est survenu lors de la livraison de votre colis.",
    ),
    "expired.no_updates": _t(
        en="The carrier hasn't shared any news about your parcel for a while.",
        it="Il corriere non fornisce notizie sul tuo pacco da un po' di tempo.",
        es="El transportista no ha dado noticias de tu paquete desde hace tiempo.",
        de="Der Versanddienstleister hat seit einiger Zeit keine Neuigkeiten zu Ihrem Paket gemeldet.",
        fr="Le transporteur n'a transmis aucune information sur votre colis depuis un moment.",
    ),
}

# What happens next, and what the shopper should do when anything.
NEXT_STEPS: dict[str, dict[str, str]] = {
    "pending.awaiting_carrier": _t(
        en="Tracking updates usually appear within one working day of the carrier collecting it. There is nothing you need to do.",
        it="Di solito gli aggiornamenti compaiono entro un giorno lavorativo dal ritiro da parte del corriere. Non devi fare nulla.",
        es="Los datos de seguimiento suelen aparecer en un día laborable desde la recogida. No tienes que hacer nada.",
        de="Sendungsinformationen erscheinen meist innerhalb eines Werktags nach der Abholung. Sie müssen nichts tun.",
        fr="Les informations de suivi apparaissent généralement dans un délai d'un jour ouvré après la prise en charge. Vous n'avez rien à faire.",
    ),
    "info_received.label_created": _t(
        en="The parcel will be handed to the carrier shortly; tracking updates start with the first scan.",
        it="Il pacco verrà affidato al corriere a breve; gli aggiornamenti partiranno dalla prima scansione.",
        es="El paquete se entregará al transportista en breve; el seguimiento empezará con el primer escaneo.",
        de="Das Paket wird in Kürze übergeben; die Sendungsverfolgung beginnt mit dem ersten Scan.",
        fr="Le colis sera remis au transporteur sous peu ; le suivi commencera dès le premier scan.",
    ),
    "info_received.awaiting_pickup": _t(
        en="Once the carrier collects it, you can follow its journey here. There is nothing you need to do.",
        it="Appena il corriere lo ritira, potrai seguirne il viaggio qui. Non devi fare nulla.",
        es="En cuanto lo recojan, podrás seguir su recorrido aquí. No tienes que hacer nada.",
        de="Sobald es abgeholt wurde, können Sie den Weg hier verfolgen. Sie müssen nichts tun.",
        fr="Dès sa prise en charge, vous pourrez suivre son trajet ici. Vous n'avez rien à faire.",
    ),
    "in_transit.picked_up": _t(
        en="It is now travelling through the carrier's network. There is nothing you need to do.",
        it="Ora viaggia nella rete del corriere. Non devi fare nulla.",
        es="Ya viaja por la red del transportista. No tienes que hacer nada.",
        de="Es ist jetzt im Netz des Versanddienstleisters unterwegs. Sie müssen nichts tun.",
        fr="Il circule désormais dans le réseau du transporteur. Vous n'avez rien à faire.",
    ),
    "in_transit.in_transit": _t(
        en="It is moving through the carrier's network towards you. There is nothing you need to do.",
        it="Sta attraversando la rete del corriere per arrivare da te. Non devi fare nulla.",
        es="Avanza por la red del transportista hacia ti. No tienes que hacer nada.",
        de="Es wird durch das Netz des Versanddienstleisters zu Ihnen transportiert. Sie müssen nichts tun.",
        fr="Il progresse dans le réseau du transporteur jusqu'à vous. Vous n'avez rien à faire.",
    ),
    "in_transit.arrived_at_facility": _t(
        en="It will be sorted and sent on to the next stage of its journey. There is nothing you need to do.",
        it="Verrà smistato e inoltrato alla tappa successiva. Non devi fare nulla.",
        es="Se clasificará y seguirá hacia la siguiente etapa. No tienes que hacer nada.",
        de="Es wird sortiert und zur nächsten Station weitergeleitet. Sie müssen nichts tun.",
        fr="Il sera trié puis acheminé vers l'étape suivante. Vous n'avez rien à faire.",
    ),
    "in_transit.departed_facility": _t(
        en="It is travelling to the next stop on its route. There is nothing you need to do.",
        it="Sta andando verso la prossima tappa del percorso. Non devi fare nulla.",
        es="Se dirige a la siguiente parada de su ruta. No tienes que hacer nada.",
        de="Es ist auf dem Weg zur nächsten Station. Sie müssen nichts tun.",
        fr="Il se dirige vers la prochaine étape de son trajet. Vous n'avez rien à faire.",
    ),
    "in_transit.customs_processing": _t(
        en="Customs checks usually take one to three working days. If any duties or taxes are due, the carrier will contact you.",
        it="I controlli doganali richiedono di solito da uno a tre giorni lavorativi. Se ci sono dazi o tasse da pagare, il corriere ti contatterà.",
        es="Los trámites aduaneros suelen tardar de uno a tres días laborables. Si hay que pagar aranceles o impuestos, el transportista se pondrá en contacto contigo.",
        de="Die Zollabfertigung dauert meist ein bis drei Werktage. Falls Zölle oder Steuern anfallen, meldet sich der Versanddienstleister bei Ihnen.",
        fr="Les formalités douanières prennent généralement un à trois jours ouvrés. Si des droits ou taxes sont dus, le transporteur vous contactera.",
    ),
    "in_transit.customs_released": _t(
        en="It will now continue to the local carrier for delivery. There is nothing you need to do.",
        it="Ora proseguirà verso il corriere locale per la consegna. Non devi fare nulla.",
        es="Ahora seguirá hacia el transportista local para la entrega. No tienes que hacer nada.",
        de="Es geht nun an den Zusteller vor Ort. Sie müssen nichts tun.",
        fr="Il va maintenant rejoindre le transporteur local pour la livraison. Vous n'avez rien à faire.",
    ),
    "in_transit.arrived_destination_country": _t(
        en="It will be handed to the local delivery network and sent on to you. There is nothing you need to do.",
        it="Verrà affidato alla rete di consegna locale, che lo porterà da te. Non devi fare nulla.",
        es="Pasará a la red de reparto local, que te lo hará llegar. No tienes que hacer nada.",
        de="Es wird an das Zustellnetz vor Ort übergeben und zu Ihnen gebracht. Sie müssen nichts tun.",
        fr="Il sera confié au réseau de livraison local, qui vous l'apportera. Vous n'avez rien à faire.",
    ),
    "in_transit.rerouted": _t(
        en="This can add a little time to the delivery. The tracking page shows the updated details; there is nothing you need to do unless the carrier contacts you.",
        it="La consegna potrebbe richiedere un po' più di tempo. La pagina di tracciamento mostra i dettagli aggiornati; non devi fare nulla, a meno che il corriere non ti contatti.",
        es="La entrega puede tardar algo más. La página de seguimiento muestra los datos actualizados; no tienes que hacer nada salvo que el transportista te contacte.",
        de="Die Zustellung kann dadurch etwas länger dauern. Die Sendungsverfolgung zeigt die aktuellen Angaben; Sie müssen nichts tun, es sei denn, der Versanddienstleister meldet sich bei Ihnen.",
        fr="La livraison peut prendre un peu plus de temps. La page de suivi affiche les informations à jour ; vous n'avez rien à faire, sauf si le transporteur vous contacte.",
    ),
    "out_for_delivery.out_for_delivery": _t(
        en="Please make sure someone can receive it. If nobody is in, the carrier will leave a notice with your options.",
        it="Assicurati che ci sia qualcuno a riceverlo. Se non trova nessuno, il corriere lascerà un avviso con le opzioni disponibili.",
        es="Asegúrate de que haya alguien para recibirlo. Si no hay nadie, el transportista dejará un aviso con tus opciones.",
        de="Bitte sorgen Sie dafür, dass jemand es annehmen kann. Ist niemand da, hinterlässt der Zusteller eine Benachrichtigung mit Ihren Möglichkeiten.",
        fr="Assurez-vous que quelqu'un puisse le réceptionner. En cas d'absence, le livreur laissera un avis de passage avec vos options.",
    ),
    "available_for_pickup.pickup_point": _t(
        en="Collect it with photo ID and your tracking number before the pickup deadline; after that it is returned to the sender.",
        it="Ritiralo entro la scadenza indicata, con un documento d'identità e il numero di spedizione; dopo verrà restituito al mittente.",
        es="Recógelo antes de la fecha límite con un documento de identidad y el número de seguimiento; después se devolverá al remitente.",
        de="Holen Sie es vor Ablauf der Lagerfrist mit einem Lichtbildausweis und der Sendungsnummer ab; danach geht es an den Absender zurück.",
        fr="Retirez-le avant la date limite, muni d'une pièce d'identité et du numéro de suivi ; passé ce délai, il sera renvoyé à l'expéditeur.",
    ),
    "available_for_pickup.locker": _t(
        en="Open the locker with the code the carrier sent you before the collection deadline; after that the parcel is returned to the sender.",
        it="Apri l'armadietto con il codice inviato dal corriere entro la scadenza indicata; dopo il pacco verrà restituito al mittente.",
        es="Abre el casillero con el código que te ha enviado el transportista antes de la fecha límite; después el paquete se devolverá al remitente.",
        de="Öffnen Sie das Fach vor Ablauf der Frist mit dem Code, den Ihnen der Versanddienstleister geschickt hat; danach geht das Paket an den Absender zurück.",
        fr="Ouvrez la consigne avec le code envoyé par le transporteur avant la date limite ; passé ce délai, le colis sera renvoyé à l'expéditeur.",
    ),
    "available_for_pickup.post_office": _t(
        en="Collect it with photo ID and your tracking number or delivery notice before the collection deadline; after that it is returned to the sender.",
        it="Ritiralo entro la scadenza indicata, con un documento d'identità e il numero di spedizione o l'avviso di giacenza; dopo verrà restituito al mittente.",
        es="Recógelo antes de la fecha límite con un documento de identidad y el número de seguimiento o el aviso de llegada; después se devolverá al remitente.",
        de="Holen Sie es vor Ablauf der Lagerfrist mit einem Lichtbildausweis und der Sendungsnummer oder der Benachrichtigungskarte ab; danach geht es an den Absender zurück.",
        fr="Retirez-le avant la date limite, muni d'une pièce d'identité et du numéro de suivi ou de l'avis de passage ; passé ce délai, il sera renvoyé à l'expéditeur.",
    ),
    "failed_attempt.recipient_unavailable": _t(
        en="The carrier will try again on the next working day, or you can collect it from the location shown on the delivery notice. You can also rearrange delivery on the carrier's tracking page.",
        it="Il corriere riproverà il prossimo giorno lavorativo, oppure puoi ritirarlo nel punto indicato sull'avviso di passaggio. Puoi anche riprogrammare la consegna dalla pagina di tracciamento del corriere.",
        es="El transportista lo intentará de nuevo el próximo día laborable, o puedes recogerlo en el lugar indicado en el aviso. También puedes reprogramar la entrega desde la página de seguimiento del transportista.",
        de="Der Zusteller versucht es am nächsten Werktag erneut, oder Sie holen das Paket an der auf der Benachrichtigungskarte genannten Stelle ab. Sie können die Zustellung auch über die Sendungsverfolgung des Versanddienstleisters neu planen.",
        fr="Le transporteur effectuera une nouvelle tentative le jour ouvré suivant, ou vous pouvez retirer le colis à l'adresse indiquée sur l'avis de passage. Vous pouvez aussi reprogrammer la livraison depuis la page de suivi du transporteur.",
    ),
    "failed_attempt.address_issue": _t(
        en="Please check your address and send any missing details (house number, building, access code) to the carrier or the store so the parcel can be delivered.",
        it="Controlla il tuo indirizzo e comunica al corriere o al negozio i dettagli mancanti (numero civico, scala, citofono) per permettere la consegna.",
        es="Revisa tu dirección y envía al transportista o a la tienda los datos que falten (número, piso, código de acceso) para que puedan entregarlo.",
        de="Bitte prüfen Sie Ihre Adresse und teilen Sie dem Versanddienstleister oder dem Shop fehlende Angaben mit (Hausnummer, Gebäude, Zugangscode), damit das Paket zugestellt werden kann.",
        fr="Vérifiez votre adresse et transmettez au transporteur ou à la boutique les informations manquantes (numéro, bâtiment, digicode) afin que le colis puisse être livré.",
    ),
    "failed_attempt.business_closed": _t(
        en="The carrier will try again on the next working day. If the business has particular opening hours, let the carrier know.",
        it="Il corriere riproverà il prossimo giorno lavorativo. Se l'attività ha orari particolari, comunicali al corriere.",
        es="El transportista lo intentará de nuevo el próximo día laborable. Si el establecimiento tiene un horario especial, házselo saber al transportista.",
        de="Der Zusteller versucht es am nächsten Werktag erneut. Hat das Geschäft besondere Öffnungszeiten, teilen Sie diese bitte dem Versanddienstleister mit.",
        fr="Le transporteur effectuera une nouvelle tentative le jour ouvré suivant. Si l'établissement a des horaires particuliers, indiquez-les au transporteur.",
    ),
    "failed_attempt.other": _t(
        en="The carrier usually tries again on the next working day. The delivery notice or the carrier's tracking page shows your options.",
        it="Di solito il corriere riprova il giorno lavorativo successivo. Le opzioni disponibili sono indicate sull'avviso di passaggio o sulla pagina di tracciamento del corriere.",
        es="Normalmente el transportista lo vuelve a intentar el siguiente día laborable. En el aviso o en la página de seguimiento del transportista verás tus opciones.",
        de="In der Regel erfolgt am nächsten Werktag ein neuer Versuch. Ihre Möglichkeiten finden Sie auf der Benachrichtigungskarte oder in der Sendungsverfolgung des Versanddienstleisters.",
        fr="Le transporteur effectue généralement une nouvelle tentative le jour ouvré suivant. L'avis de passage ou la page de suivi du transporteur indique vos options.",
    ),
    "delivered.delivered": _t(
        en="If you can't find it, check with your neighbours and around your home, then contact the store.",
        it="Se non lo trovi, chiedi ai vicini e controlla intorno a casa, poi contatta il negozio.",
        es="Si no lo encuentras, pregunta a tus vecinos y revisa los alrededores de tu domicilio; después, contacta con la tienda.",
        de="Falls Sie es nicht finden, fragen Sie bitte bei Ihren Nachbarn nach und sehen Sie sich rund ums Haus um; wenden Sie sich danach an den Shop.",
        fr="Si vous ne le trouvez pas, renseignez-vous auprès de vos voisins et vérifiez autour de votre domicile, puis contactez la boutique.",
    ),
    "delivered.signed": _t(
        en="If you didn't sign for it yourself, check with others at your address, then contact the store.",
        it="Se non hai firmato tu, chiedi a chi si trova al tuo indirizzo, poi contatta il negozio.",
        es="Si no firmaste tú, pregunta a quien esté en tu domicilio y, después, contacta con la tienda.",
        de="Falls Sie nicht selbst unterschrieben haben, fragen Sie bitte bei anderen Personen unter Ihrer Adresse nach und wenden Sie sich danach an den Shop.",
        fr="Si vous n'avez pas signé vous-même, renseignez-vous auprès des personnes présentes à votre adresse, puis contactez la boutique.",
    ),
    "delivered.neighbor": _t(
        en="The delivery notice tells you which neighbour has it. If you can't find the notice, contact the store.",
        it="L'avviso di consegna indica quale vicino lo ha ricevuto. Se non trovi l'avviso, contatta il negozio.",
        es="El aviso de entrega indica qué vecino lo tiene. Si no encuentras el aviso, contacta con la tienda.",
        de="Auf der Benachrichtigungskarte steht, welcher Nachbar es angenommen hat. Finden Sie keine Karte, wenden Sie sich bitte an den Shop.",
        fr="L'avis de passage indique quel voisin l'a réceptionné. Si vous ne trouvez pas l'avis, contactez la boutique.",
    ),
    "delivered.safe_place": _t(
        en="Check the safe place you chose or the carrier's delivery photo. If you can't find it, contact the store.",
        it="Controlla il luogo sicuro che hai indicato o la foto di consegna del corriere. Se non lo trovi, contatta il negozio.",
        es="Revisa el lugar seguro que elegiste o la foto de entrega del transportista. Si no lo encuentras, contacta con la tienda.",
        de="Sehen Sie am vereinbarten Ablageort nach oder prüfen Sie das Zustellfoto des Versanddienstleisters. Finden Sie es nicht, wenden Sie sich bitte an den Shop.",
        fr="Vérifiez le lieu de dépôt choisi ou la photo de livraison du transporteur. Si vous ne le trouvez pas, contactez la boutique.",
    ),
    "delivered.picked_up": _t(
        en="Enjoy your order! If anything is wrong with it, contact the store.",
        it="Goditi il tuo ordine! Se qualcosa non va, contatta il negozio.",
        es="¡Disfruta de tu pedido! Si algo no está bien, contacta con la tienda.",
        de="Viel Freude mit Ihrer Bestellung! Falls etwas nicht stimmt, wenden Sie sich bitte an den Shop.",
        fr="Profitez bien de votre commande ! En cas de problème, contactez la boutique.",
    ),
    "exception.customs_hold": _t(
        en="Customs may need documents or information from you. Watch for a message from the carrier and reply promptly so the parcel can be released.",
        it="La dogana potrebbe aver bisogno di documenti o informazioni da parte tua. Controlla i messaggi del corriere e rispondi al più presto, così il pacco potrà essere sbloccato.",
        es="Es posible que la aduana necesite documentos o información tuya. Revisa los mensajes del transportista y responde cuanto antes para que liberen el paquete.",
        de="Der Zoll benötigt möglicherweise Unterlagen oder Angaben von Ihnen. Achten Sie auf Nachrichten des Versanddienstleisters und antworten Sie zügig, damit das Paket freigegeben werden kann.",
        fr="La douane peut avoir besoin de documents ou d'informations de votre part. Surveillez les messages du transporteur et répondez rapidement pour que le colis soit libéré.",
    ),
    "exception.held_for_payment": _t(
        en="Pay the duties through the carrier's link or payment notice; delivery continues as soon as the payment is received.",
        it="Paga i dazi tramite il link o l'avviso di pagamento del corriere; la consegna riprenderà appena il pagamento sarà ricevuto.",
        es="Paga los aranceles a través del enlace o el aviso de pago del transportista; la entrega continuará en cuanto se reciba el pago.",
        de="Bezahlen Sie die Abgaben über den Link oder die Zahlungsaufforderung des Versanddienstleisters; die Zustellung geht weiter, sobald die Zahlung eingegangen ist.",
        fr="Réglez les droits via le lien ou l'avis de paiement du transporteur ; la livraison reprendra dès réception du paiement.",
    ),
    "exception.address_issue": _t(
        en="Please check your address and send any corrections to the store or the carrier as soon as possible so delivery can continue.",
        it="Controlla il tuo indirizzo e invia eventuali correzioni al negozio o al corriere il prima possibile, così la consegna potrà proseguire.",
        es="Revisa tu dirección y envía cualquier corrección a la tienda o al transportista lo antes posible para que la entrega pueda continuar.",
        de="Bitte prüfen Sie Ihre Adresse und senden Sie Korrekturen so schnell wie möglich an den Shop oder den Versanddienstleister, damit die Zustellung weitergehen kann.",
        fr="Vérifiez votre adresse et envoyez vos corrections à la boutique ou au transporteur au plus vite afin que la livraison puisse se poursuivre.",
    ),
    "exception.refused": _t(
        en="The parcel will go back to the store. If this was a mistake, please contact the store.",
        it="Il pacco tornerà al negozio. Se si tratta di un errore, contatta il negozio.",
        es="El paquete volverá a la tienda. Si ha sido un error, contacta con la tienda.",
        de="Das Paket geht an den Shop zurück. Falls das ein Versehen war, wenden Sie sich bitte an den Shop.",
        fr="Le colis sera retourné à la boutique. S'il s'agit d'une erreur, contactez la boutique.",
    ),
    "exception.damaged": _t(
        en="The store has been told and will be in touch about a replacement or refund.",
        it="Il negozio è stato informato e ti contatterà per una sostituzione o un rimborso.",
        es="La tienda ya está informada y se pondrá en contacto contigo para ofrecerte una sustitución o un reembolso.",
        de="Der Shop wurde informiert und meldet sich wegen Ersatz oder Erstattung bei Ihnen.",
        fr="La boutique a été prévenue et vous contactera pour un remplacement ou un remboursement.",
    ),
    "exception.lost": _t(
        en="The store has been told and will send a replacement or refund.",
        it="Il negozio è stato informato e provvederà a una sostituzione o a un rimborso.",
        es="La tienda ya está informada y te enviará un nuevo paquete o te devolverá el importe.",
        de="Der Shop wurde informiert und schickt Ihnen Ersatz oder erstattet den Betrag.",
        fr="La boutique a été prévenue et vous enverra un remplacement ou vous remboursera.",
    ),
    "exception.delayed_weather": _t(
        en="The carrier will deliver it as soon as conditions allow. There is nothing you need to do.",
        it="Il corriere lo consegnerà appena le condizioni lo permetteranno. Non devi fare nulla.",
        es="El transportista lo entregará en cuanto las condiciones lo permitan. No tienes que hacer nada.",
        de="Der Versanddienstleister stellt es zu, sobald es die Bedingungen erlauben. Sie müssen nichts tun.",
        fr="Le transporteur le livrera dès que les conditions le permettront. Vous n'avez rien à faire.",
    ),
    "exception.delayed": _t(
        en="Your parcel is still on its way and will be delivered as soon as possible. There is nothing you need to do.",
        it="Il tuo pacco è ancora in viaggio e verrà consegnato il prima possibile. Non devi fare nulla.",
        es="Tu paquete sigue en camino y se entregará lo antes posible. No tienes que hacer nada.",
        de="Ihr Paket ist weiterhin unterwegs und wird so bald wie möglich zugestellt. Sie müssen nichts tun.",
        fr="Votre colis est toujours en route et sera livré dès que possible. Vous n'avez rien à faire.",
    ),
    "exception.returning_to_sender": _t(
        en="The store will contact you once it arrives back, to arrange a new delivery or a refund.",
        it="Il negozio ti contatterà al suo rientro per organizzare una nuova spedizione o un rimborso.",
        es="La tienda se pondrá en contacto contigo cuando lo reciba para organizar un nuevo envío o un reembolso.",
        de="Sobald es dort ankommt, meldet sich der Shop bei Ihnen, um eine neue Lieferung oder eine Erstattung zu vereinbaren.",
        fr="La boutique vous contactera à son retour pour organiser un nouvel envoi ou un remboursement.",
    ),
    "exception.returned_to_sender": _t(
        en="The store will contact you to arrange a new delivery or a refund.",
        it="Il negozio ti contatterà per organizzare una nuova spedizione o un rimborso.",
        es="La tienda se pondrá en contacto contigo para organizar un nuevo envío o un reembolso.",
        de="Der Shop meldet sich bei Ihnen, um eine neue Lieferung oder eine Erstattung zu vereinbaren.",
        fr="La boutique vous contactera pour organiser un nouvel envoi ou un remboursement.",
    ),
    "exception.cancelled": _t(
        en="If you haven't already heard from the store about your order, please contact them.",
        it="Se non hai ancora ricevuto notizie dal negozio sul tuo ordine, contattalo.",
        es="Si la tienda aún no te ha informado sobre tu pedido, ponte en contacto con ella.",
        de="Falls Sie vom Shop noch nichts zu Ihrer Bestellung gehört haben, wenden Sie sich bitte an ihn.",
        fr="Si la boutique ne vous a pas encore contacté au sujet de votre commande, n'hésitez pas à la contacter.",
    ),
    "exception.other": _t(
        en="The carrier is working to resolve it and the store is keeping an eye on it. You will hear as soon as there is news.",
        it="Il corriere sta lavorando per risolverlo e il negozio lo sta seguendo. Riceverai un aggiornamento appena ci saranno novità.",
        es="El transportista está trabajando para resolverlo y la tienda lo sigue de cerca. Recibirás noticias en cuanto haya novedades.",
        de="Der Versanddienstleister arbeitet an einer Lösung, und der Shop behält die Sendung im Blick. Sie erhalten eine Nachricht, sobald es Neuigkeiten gibt.",
        fr="Le transporteur s'emploie à le résoudre et la boutique suit la situation. Vous recevrez un message dès qu'il y aura du nouveau.",
    ),
    "expired.no_updates": _t(
        en="If your parcel hasn't arrived, please contact the store so they can look into it with the carrier.",
        it="Se il pacco non è ancora arrivato, contatta il negozio: verificherà con il corriere.",
        es="Si tu paquete no ha llegado, contacta con la tienda para que lo revise con el transportista.",
        de="Falls Ihr Paket noch nicht angekommen ist, wenden Sie sich bitte an den Shop, damit er beim Versanddienstleister nachfragt.",
        fr="Si votre colis n'est pas arrivé, contactez la boutique afin qu'elle vérifie auprès du transporteur.",
    ),
}

# Fixed interface words. Placeholders in braces ({name}, {number}, {count}, {n}, {email}, {store})
# are filled by the caller (templates use the ``replace`` filter).
UI_WORDS: dict[str, dict[str, str]] = {
    "greeting": _t(
        en="Hi {name},",
        it="Ciao {name},",
        es="¡Hola, {name}!",
        de="Hallo {name},",
        fr="Bonjour {name},",
    ),
    "greeting_anonymous": _t(
        en="Hello,",
        it="Ciao,",
        es="¡Hola!",
        de="Guten Tag,",
        fr="Bonjour,",
    ),
    "track_button": _t(
        en="Track your parcel",
        it="Segui il tuo pacco",
        es="Sigue tu paquete",
        de="Sendung verfolgen",
        fr="Suivre mon colis",
    ),
    "order_number": _t(
        en="Order {number}",
        it="Ordine {number}",
        es="Pedido {number}",
        de="Bestellung {number}",
        fr="Commande {number}",
    ),
    "carrier": _t(
        en="Carrier",
        it="Corriere",
        es="Transportista",
        de="Versanddienstleister",
        fr="Transporteur",
    ),
    "tracking_number": _t(
        en="Tracking number",
        it="Numero di spedizione",
        es="Número de seguimiento",
        de="Sendungsnummer",
        fr="Numéro de suivi",
    ),
    "status": _t(en="Status", it="Stato", es="Estado", de="Status", fr="Statut"),
    "expected_delivery": _t(
        en="Expected delivery",
        it="Consegna prevista",
        es="Entrega prevista",
        de="Voraussichtliche Zustellung",
        fr="Livraison prévue",
    ),
    "delivered": _t(en="Delivered", it="Consegnato", es="Entregado", de="Zugestellt", fr="Livré"),
    "latest_update": _t(
        en="Latest update",
        it="Ultimo aggiornamento",
        es="Última actualización",
        de="Letzte Aktualisierung",
        fr="Dernière mise à jour",
    ),
    "quantity": _t(en="Qty", it="Q.tà", es="Cant.", de="Menge", fr="Qté"),
    "digest_intro": _t(
        en="Your order is travelling in {count} parcels:",
        it="Il tuo ordine viaggia in {count} pacchi:",
        es="Tu pedido viaja en {count} paquetes:",
        de="Ihre Bestellung ist in {count} Paketen unterwegs:",
        fr="Votre commande voyage en {count} colis :",
    ),
    "parcel_n": _t(
        en="Parcel {n}", it="Pacco {n}", es="Paquete {n}", de="Paket {n}", fr="Colis {n}"
    ),
    "what_happened": _t(
        en="What happened",
        it="Cosa è successo",
        es="Qué ha pasado",
        de="Was ist passiert?",
        fr="Ce qui s'est passé",
    ),
    "next_step": _t(
        en="What happens next",
        it="Cosa succede ora",
        es="Qué pasará ahora",
        de="Wie geht es weiter?",
        fr="La suite",
    ),
    "action_required": _t(
        en="Action needed",
        it="Azione richiesta",
        es="Acción necesaria",
        de="Ihre Mithilfe ist nötig",
        fr="Action requise",
    ),
    "pickup_point": _t(
        en="Pickup point",
        it="Punto di ritiro",
        es="Punto de recogida",
        de="Abholstelle",
        fr="Point de retrait",
    ),
    "address": _t(en="Address", it="Indirizzo", es="Dirección", de="Adresse", fr="Adresse"),
    "opening_hours": _t(
        en="Opening hours",
        it="Orari di apertura",
        es="Horario",
        de="Öffnungszeiten",
        fr="Horaires d'ouverture",
    ),
    "discount_intro": _t(
        en="To thank you for your patience, here is a discount code for your next order:",
        it="Per ringraziarti della pazienza, ecco un codice sconto per il tuo prossimo ordine:",
        es="Para agradecerte tu paciencia, aquí tienes un código de descuento para tu próximo pedido:",
        de="Als Dankeschön für Ihre Geduld erhalten Sie einen Rabattcode für Ihre nächste Bestellung:",
        fr="Pour vous remercier de votre patience, voici un code de réduction pour votre prochaine commande :",
    ),
    "previous_number": _t(
        en="Previous tracking number",
        it="Numero di spedizione precedente",
        es="Número de seguimiento anterior",
        de="Bisherige Sendungsnummer",
        fr="Ancien numéro de suivi",
    ),
    "new_number": _t(
        en="New tracking number",
        it="Nuovo numero di spedizione",
        es="Nuevo número de seguimiento",
        de="Neue Sendungsnummer",
        fr="Nouveau numéro de suivi",
    ),
    "report_intro": _t(
        en="If your parcel hasn't arrived, or something isn't right with it, let us know and we'll sort it out.",
        it="Se il pacco non è arrivato o qualcosa non va, faccelo sapere e troveremo una soluzione.",
        es="Si tu paquete no ha llegado o hay algún problema con él, avísanos y lo solucionaremos.",
        de="Falls Ihr Paket nicht angekommen ist oder etwas nicht stimmt, geben Sie uns bitte Bescheid: Wir kümmern uns darum.",
        fr="Si votre colis n'est pas arrivé ou si quelque chose ne va pas, dites-le-nous et nous trouverons une solution.",
    ),
    "report_problem": _t(
        en="Report a problem",
        it="Segnala un problema",
        es="Informar de un problema",
        de="Problem melden",
        fr="Signaler un problème",
    ),
    "questions": _t(
        en="Questions about your order? Write to {email}.",
        it="Domande sul tuo ordine? Scrivi a {email}.",
        es="¿Tienes preguntas sobre tu pedido? Escríbenos a {email}.",
        de="Fragen zu Ihrer Bestellung? Schreiben Sie uns an {email}.",
        fr="Une question sur votre commande ? Écrivez-nous à {email}.",
    ),
    "sent_by": _t(
        en="You are receiving this email because you placed an order with {store}.",
        it="Ricevi questa email perché hai effettuato un ordine su {store}.",
        es="Recibes este correo porque has hecho un pedido en {store}.",
        de="Sie erhalten diese E-Mail, weil Sie bei {store} bestellt haben.",
        fr="Vous recevez cet e-mail car vous avez passé commande chez {store}.",
    ),
    "unsubscribe": _t(
        en="Unsubscribe from delivery updates",
        it="Non ricevere più aggiornamenti sulla consegna",
        es="Dejar de recibir avisos de entrega",
        de="Versandbenachrichtigungen abbestellen",
        fr="Ne plus recevoir les notifications de livraison",
    ),
    "shop_now": _t(
        en="Shop now",
        it="Scopri di più",
        es="Descubrir",
        de="Jetzt entdecken",
        fr="Découvrir",
    ),
    "sign_off": _t(
        en="The {store} team",
        it="Il team di {store}",
        es="El equipo de {store}",
        de="Ihr Team von {store}",
        fr="L'équipe {store}",
    ),
}


def status_label(status: str | None, lang: str | None) -> str:
    """The label of a main status ("in_transit" -> "In transit"); "" for an unknown status."""
    texts = STATUS_LABELS.get(_main_status(status))
    return texts[_language(lang)] if texts else ""


def substatus_text(substatus: str | None, lang: str | None) -> str:
    """Why the parcel is where it is, in plain words; "" when even the main status is unknown."""
    texts = REASONS.get(_known_substatus(substatus))
    return texts[_language(lang)] if texts else ""


def next_step(substatus: str | None, lang: str | None) -> str:
    """What happens next and what the shopper should do, for a substatus."""
    texts = NEXT_STEPS.get(_known_substatus(substatus))
    return texts[_language(lang)] if texts else ""


def ui_words(lang: str | None) -> dict[str, str]:
    """Every interface word in one language, as a plain dict (for templates and pages)."""
    code = _language(lang)
    return {key: texts[code] for key, texts in UI_WORDS.items()}


def _main_status(code: str | None) -> str:
    return (code or "").split(".", 1)[0]


def _known_substatus(code: str | None) -> str:
    # An unknown reason (or a bare main status) reads as its main status's default reason.
    if code in SUBSTATUSES:
        return code
    return DEFAULT_SUBSTATUS.get(_main_status(code), "")
