# castellan — español. Los mensajes son HTML de Telegram: el bot escapa los
# valores; usa solo las etiquetas b, i, u, s, code, pre, a. Las claves
# marcadas "plain" se muestran en botones o alertas y no llevan etiquetas.

## Módulos (plain: etiquetas de botones)
module-connections = Conexiones
module-notes = Notas
module-rules = Reglas
module-business = Negocio
module-misc = Básicos

## Descripciones de comandos (plain)
cmd-start = Iniciar el bot
cmd-help = Mostrar la ayuda de los módulos del bot
cmd-id = Mostrar tu id, y el del chat en grupos
cmd-connect = Conectar tu chat privado a un grupo
cmd-disconnect = Terminar la conexión con un grupo
cmd-reconnect = Volver a conectar con el último grupo
cmd-connection = Mostrar la conexión actual
cmd-allowconnect = Permitir o prohibir que los miembros se conecten
cmd-get = Ver una nota
cmd-notes = Listar las notas del chat
cmd-save = Guardar una nota
cmd-clear = Borrar una nota
cmd-rules = Mostrar las reglas del chat
cmd-setrules = Establecer las reglas del chat
cmd-clearrules = Borrar las reglas del chat

## Botones (plain)
button-help = Ayuda
button-back = « Volver
button-open-pm = Abrir en chat privado
button-help-pm = Ayuda en chat privado
button-connect-pm = Conectar en chat privado
button-admin-commands = Comandos de administrador
button-user-commands = Comandos de usuario
button-unknown = Este botón no es válido (o ya no lo es).
button-business-pause = Pausar mis respuestas en este chat
button-business-resume = Reanudar mis respuestas en este chat
button-previous = ◀ Anterior
button-next = Siguiente ▶

## Inicio y ayuda
start-private = ¡Hola, <b>{ $name }</b>! Soy castellan, un bot que ayuda a administrar grupos.
    Conecta este chat a uno de tus grupos con /connect y adminístralo desde aquí, sin llenar el grupo de mensajes.
    Pulsa Ayuda para ver lo que sé hacer.
start-group = ¡Hola! Estoy funcionando. Háblame en privado para la ayuda y las conexiones.
start-unknown-link = Ese enlace no es válido. Envía /help para ver lo que sé hacer.
help-main = <b>Ayuda</b>
    Elige un módulo para ver sus comandos. En el chat privado, los comandos de grupo funcionan a través de una conexión: mira <b>Conexiones</b>.
help-in-pm = La ayuda está en el chat privado, para que el grupo siga tranquilo.
help-unknown-module = No hay ningún módulo llamado <code>{ $name }</code>. Módulos: { $modules }.
help-module = <b>{ $name }</b>

    { $body }

    <b>Comandos</b>
    { $commands }
help-module-no-commands = <b>{ $name }</b>

    { $body }
help-connections = Conecta tu chat privado conmigo a un grupo, y los comandos del grupo que envíes aquí actuarán sobre ese grupo sin que nadie en él los vea. Los administradores pueden cambiar cosas; los miembros pueden leer lo que ofrece el grupo.
    • Envía <code>/connect -1001234567890</code> con el id del grupo, o <code>/connect @nombregrupo</code> si el grupo es público.
    • Consigue el id enviando /id en el grupo: los ids de grupo son números negativos.
    • O envía /connect en el grupo y pulsa el botón.
    • /connection muestra dónde estás conectado, /disconnect termina la conexión y /reconnect vuelve al último grupo.
    • Los administradores deciden con /allowconnect si los miembros pueden conectarse.
    Cada comando a través de una conexión vuelve a comprobar que sigues siendo miembro (y administrador para los comandos de administrador).
help-notes = Las notas son textos que un grupo guarda con un nombre, con su formato.
    • <code>/save nombre texto</code>, o <code>/save nombre</code> respondiendo a un mensaje (administradores).
    • <code>/get nombre</code> o <code>#nombre</code> para leer una; /notes las lista.
    • <code>/clear nombre</code> borra una (administradores).
    Los nombres usan letras, dígitos, _ y -, hasta 64 caracteres, en mayúsculas o minúsculas.
help-rules = Cada grupo puede tener reglas.
    • /rules las muestra.
    • <code>/setrules texto</code>, o /setrules respondiendo a un mensaje, las establece (administradores); /clearrules las borra.
help-business = Con Telegram Business, tus notas responden a tus clientes.
    • Conéctame a tu cuenta de empresa: Ajustes → Telegram Business → Chatbots, elígeme y permite <b>Responder a mensajes</b>.
    • Envía <code>/connect business</code> aquí; después <code>/save nombre texto</code>, /notes y <code>/clear nombre</code> gestionan las notas de tu negocio. /connection muestra el estado y los permisos de la conexión.
    • Cuando un cliente escribe <code>#nombre</code> en un chat contigo, respondo con tu nota <code>nombre</code>, en tu nombre. No respondo a nada más de lo que escriba un cliente, ni a lo que escribas tú.
    • Pulsa <b>Gestionar bot</b> arriba en el chat de un cliente para pausar o reanudar mis respuestas solo en ese chat.
    Solo el propietario de la cuenta puede gestionarla; si me desconectas o me quitas el permiso de responder, dejo de responder al instante.
help-misc = Lo básico.
    • /start te saluda, /help muestra esta ayuda.
    • /id muestra tu id; en un grupo también el del grupo; como respuesta, el id del usuario al que respondes.

## /id
id-yours = Tu id: <code>{ $id }</code>
id-of-user = Id de { $name }: <code>{ $id }</code>
id-of-chat-sender = Id del chat { $name }: <code>{ $id }</code>
id-this-chat = Id de este chat: <code>{ $id }</code>

## Roles (plain)
role-admin = administrador
role-member = miembro
role-owner = propietario
word-yes = sí
word-no = no
# se usa como título en otros mensajes: plain
business-account = tu cuenta de empresa

## Conexiones
connect-success = Ahora estás conectado a <b>{ $title }</b> como { $role }.
    Los comandos que envíes aquí actúan sobre ese grupo. /disconnect termina la conexión.
connection-current = Estás conectado a <b>{ $title }</b> como { $role }.
connection-none = No estás conectado a ningún grupo. Envía /connect para conectarte.
connect-refused = No puedo conectarte: { $reason }
connect-how = Envía <code>/connect</code> seguido del id del grupo, por ejemplo <code>/connect -1001234567890</code>, o su @nombre.
    Para conseguir el id, envía /id en el grupo: los ids de grupo son números negativos. O envía /connect en el grupo y pulsa el botón.
connect-recent = Elige uno de tus grupos recientes, o envía <code>/connect</code> con el id de un grupo:
connect-bad-chat = <code>{ $input }</code> no es un chat. Envía un id de grupo como <code>-1001234567890</code> (envía /id en el grupo para conseguirlo) o un @nombre.
connect-id-out-of-range = <code>{ $input }</code> no es un id de chat de Telegram: está fuera de rango. Los ids de grupo son como <code>-1001234567890</code>.
connect-positive-id = <code>{ $input }</code> es el id de un usuario o de un chat privado, que no se pueden conectar. Los ids de grupo son negativos: envía /id en el grupo para conseguirlo.
connect-bad-username = <code>{ $input }</code> no es un nombre de usuario válido: necesita de 4 a 32 letras, dígitos o _ tras la @, empezando por una letra.
connect-bad-link = Este enlace de conexión está roto. Envía /connect en el grupo para conseguir otro.
connect-in-group = Pulsa el botón para conectarte a <b>{ $title }</b> en el chat privado.
disconnect-done = Desconectado de <b>{ $title }</b>.
disconnect-not-connected = No estás conectado a ningún grupo.
business-state = Conexión activa: { $enabled }. Puede responder a clientes: { $can_reply }. Puede leer mensajes: { $can_read }.
reconnect-no-history = Todavía no te has conectado a ningún grupo. Envía /connect para conectarte.
connection-revoked = Tu conexión con <b>{ $title }</b> ha terminado: { $reason }
# plain
connbtns-not-connected = Ya no estás conectado a ningún grupo. Envía /connect para conectarte.
# plain
connbtns-admins-only = Solo los administradores del grupo pueden ver los comandos de administrador.
connbtns-admin-list = <b>Comandos de administrador</b> de <b>{ $title }</b>, utilizables aquí a través de la conexión:
    { $commands }
connbtns-user-list = <b>Comandos de miembro</b> de <b>{ $title }</b>, utilizables aquí a través de la conexión:
    { $commands }
allowconnect-status-on = Los miembros pueden conectarse a <b>{ $title }</b> desde el chat privado.
allowconnect-status-off = Solo los administradores pueden conectarse a <b>{ $title }</b> desde el chat privado.
allowconnect-set-on = Hecho: ahora los miembros pueden conectarse a <b>{ $title }</b>.
allowconnect-set-off = Hecho: ahora solo los administradores pueden conectarse a <b>{ $title }</b>.
allowconnect-bad-option = <code>{ $option }</code> no es una opción. Usa yes, no, on, off, true o false.

## Por qué se rechaza una conexión (texto plano, sin etiquetas)
deny-not-a-group = solo se pueden conectar grupos y supergrupos, no chats privados ni canales.
deny-chat-not-found = no encuentro ese chat. Comprueba el id y asegúrate de que soy miembro del grupo.
deny-bot-not-in-chat = no soy miembro de ese grupo. Añádeme primero.
deny-not-member = no eres miembro de ese grupo.
deny-banned = estás expulsado de ese grupo.
deny-connections-disabled = los administradores del grupo solo permiten conectarse a los administradores.
deny-no-business = no tienes ninguna cuenta de Telegram Business conectada a mí. Conéctame antes en Ajustes → Telegram Business → Chatbots.
deny-business-disabled = tu cuenta de empresa me ha desconectado. Vuelve a conectarme en Ajustes → Telegram Business → Chatbots.
deny-not-business-owner = solo el propietario de una cuenta de empresa puede gestionarla.
ended-bot-removed = me han quitado de ese grupo. Vuelve a añadirme y conéctate con /connect.

## Errores
error-admins-only = Solo los administradores pueden usar /{ $command }.
error-admins-only-in = Solo los administradores de <b>{ $title }</b> pueden usar /{ $command }.
error-lacks-right = Para usar /{ $command } en <b>{ $title }</b> necesitas el permiso de administrador para { $right }.
right-restrict-members = expulsar usuarios
right-delete-messages = eliminar mensajes
right-change-info = cambiar la información del grupo
right-pin-messages = fijar mensajes
right-promote-members = añadir administradores
error-channel-sender = No puedo comprobar los comandos enviados en nombre de un canal. Envíalo como tú mismo.
error-group-only = /{ $command } solo funciona en grupos.
error-pm-only = Envíame /{ $command } en el chat privado.
error-not-connected = /{ $command } actúa sobre un grupo: úsalo en el grupo, o conecta antes este chat al grupo con /connect.
error-not-through-business = /{ $command } no sirve para una cuenta de empresa: es para grupos. Conéctate a un grupo con /connect para usarlo.
error-telegram-unavailable = Telegram no me respondió. Inténtalo de nuevo en un momento.
error-telegram-chat-not-found = Telegram dice que ese chat ya no existe, o que no puedo verlo.
error-telegram-bot-not-in-chat = Ya no soy miembro de ese chat, así que no puedo hacer eso allí. Vuelve a añadirme primero.
error-telegram-bot-lacks-rights = No tengo permisos para hacer eso en este chat. Un administrador puede dármelos.
error-slow-down = Envías comandos más rápido de lo que puedo atenderlos. Espera { $seconds } s y vuelve a intentarlo.
error-storage-unavailable = Mi almacenamiento no está disponible ahora mismo. Vuelve a intentarlo en un momento.
error-internal = Algo ha fallado por mi parte. Inténtalo de nuevo; si sigue pasando, avisa a quien opera el bot.

## Notas
notes-name-too-long = <code>{ $name }</code> es demasiado largo para un nombre de nota ({ $length } caracteres): los nombres tienen como mucho { $max } caracteres.
notes-save-usage = Envía <code>/save nombre texto</code>, o <code>/save nombre</code> como respuesta al mensaje que quieres guardar.
notes-save-empty = No hay nada que guardar como <code>{ $name }</code>: añade un texto tras el nombre, o responde a un mensaje con texto.
notes-bad-name = <code>{ $name }</code> no es un nombre de nota válido: usa letras, dígitos, _ y -, como mucho { $max } caracteres.
notes-saved = Nota <code>{ $name }</code> guardada en <b>{ $title }</b>. Consúltala con <code>/get { $name }</code> o <code>#{ $name }</code>.
notes-updated = Nota <code>{ $name }</code> actualizada en <b>{ $title }</b>.
notes-get-usage = Envía <code>/get nombre</code>. /notes lista las notas.
notes-not-found = No hay ninguna nota <code>{ $name }</code> en <b>{ $title }</b>. /notes lista las notas.
notes-none = <b>{ $title }</b> todavía no tiene notas.
notes-list = { $count ->
        [one] <b>{ $title }</b> tiene una nota:
       *[other] <b>{ $title }</b> tiene { $count } notas:
    }
    { $notes }
    Consulta una con <code>/get nombre</code> o <code>#nombre</code>.
notes-list-page = <b>{ $title }</b> tiene { $count } notas, página { $page } de { $pages }:
    { $notes }
    Consulta una con <code>/get nombre</code> o <code>#nombre</code>.
notes-clear-usage = Envía <code>/clear nombre</code> para borrar una nota.
notes-cleared = Nota <code>{ $name }</code> borrada de <b>{ $title }</b>.

## Reglas
rules-show = <b>Reglas de { $title }</b>

    { $rules }
rules-none = <b>{ $title }</b> todavía no tiene reglas.
rules-set-usage = Envía <code>/setrules</code> seguido de las reglas, o como respuesta al mensaje con las reglas.
rules-set = Las reglas de <b>{ $title }</b> están guardadas.
rules-cleared = Las reglas de <b>{ $title }</b> están borradas.

## Telegram Business
business-connected = ¡Hola, { $name }! Ya estoy conectado a tu cuenta de empresa.
    Cuando un cliente escriba <code>#nombre</code>, le responderé con tu nota <code>nombre</code>. Envía <code>/connect business</code> aquí para gestionar las notas de tu negocio, y /help business para saber más.
business-connected-no-reply = ¡Hola, { $name }! Estoy conectado a tu cuenta de empresa, pero no puedo responder a mensajes, así que tus clientes no recibirán respuestas mías.
    Para permitirlo: Ajustes → Telegram Business → Chatbots → yo → activa <b>Responder a mensajes</b>.
business-disconnected = ¡Hola, { $name }! Tu cuenta de empresa me ha desconectado, así que ya no respondo a tus clientes. Las notas de tu negocio se conservan: vuelve a conectarme en Ajustes → Telegram Business → Chatbots para usarlas.
business-manage-refused = No puedo gestionar ese chat: { $reason }
business-chat-active = Chat con el cliente <code>{ $chat }</code>: allí respondo a <code>#nombre</code> con tus notas.
    { $state }
business-chat-paused = Chat con el cliente <code>{ $chat }</code>: mis respuestas están <b>en pausa</b> allí.
    { $state }
# plain
business-paused-done = En pausa: no responderé en ese chat.
# plain
business-resumed-done = Reanudado: vuelvo a responder en ese chat.

## Moderation
module-moderation = Moderación
help-moderation = Expulsa, silencia, saca y advierte a miembros, en el grupo o desde aquí con una conexión.
    • Indica al miembro respondiendo a uno de sus mensajes, con su @usuario (alguien a quien haya visto en el grupo), con su id numérico o con una mención.
    • Duraciones: 30m, 4h, 2d, 1w; de un minuto a 365 días.
    • Cada acción necesita el permiso de administrador para expulsar usuarios, el tuyo y el mío; los ajustes de advertencias, el de cambiar la información del grupo.
cmd-ban = Expulsar a un miembro
cmd-tban = Expulsar a un miembro por un tiempo
cmd-unban = Levantar una expulsión
cmd-kick = Sacar a un miembro (puede volver)
cmd-mute = Impedir que un miembro envíe mensajes
cmd-tmute = Silenciar a un miembro por un tiempo
cmd-unmute = Dejar que un miembro silenciado vuelva a escribir
cmd-warn = Advertir a un miembro
cmd-warns = Ver advertencias (las tuyas o las de un miembro)
cmd-rmwarn = Quitar la última advertencia de un miembro
cmd-resetwarns = Quitar todas las advertencias de un miembro
cmd-warnlimit = Ver o fijar cuántas advertencias llevan a la sanción
cmd-warnmode = Ver o fijar la sanción al llegar al límite
cmd-modlog = Ver las últimas acciones de moderación
button-mod-confirm = Confirmar como administrador
button-remove-warn = Quitar advertencia
mod-who = ¿A quién? Responde a uno de sus mensajes o indica su @usuario o su id: /{ $command } @usuario
mod-unknown-username = No he visto a { $name } aquí: responde a uno de sus mensajes o usa su id.
mod-stand-in = Ese mensaje se envió en nombre de un chat (un canal o un administrador anónimo), no de una persona sobre la que pueda actuar.
mod-not-yourself = No puedes aplicarte { $action } a ti mismo.
mod-not-the-bot = No voy a aplicarme { $action } a mí mismo.
mod-target-admin = { $user } es administrador de este grupo: no puedo actuar sobre él.
mod-not-in-group = { $user } no está en este grupo.
mod-not-banned = { $user } no está expulsado.
mod-bot-lacks-right = Para eso necesito el permiso de administrador para { $right } en <b>{ $title }</b>.
mod-duration-missing = ¿Por cuánto tiempo? Por ejemplo: /{ $command } @usuario 2d
mod-duration-invalid = «{ $duration }» no es una duración. Usa por ejemplo 30m, 4h, 2d o 1w.
mod-duration-too-short = «{ $duration }» es demasiado corto: al menos un minuto (Telegram lo haría para siempre).
mod-duration-too-long = «{ $duration }» es demasiado largo: como mucho 365 días (Telegram lo haría para siempre).
mod-banned = { $admin } expulsó a { $user }.
mod-banned-for = { $admin } expulsó a { $user } durante { $duration }.
mod-unbanned = { $admin } levantó la expulsión de { $user }.
mod-kicked = { $admin } sacó a { $user } del grupo.
mod-muted = { $admin } silenció a { $user }.
mod-muted-for = { $admin } silenció a { $user } durante { $duration }.
mod-unmuted = { $user } puede volver a escribir ({ $admin }).
mod-supergroup-only = Telegram solo lo permite en supergrupos. Cualquier cambio en los ajustes del grupo (por ejemplo, hacer visible su historial) lo convierte en uno.
mod-reason = Motivo: { $reason }
mod-anonymous-confirm = Un administrador anónimo pidió /{ $command } sobre { $user }. Un administrador con permiso para expulsar usuarios puede confirmarlo.
mod-confirm-gone = Esa petición ya no está: envía el comando de nuevo.
mod-warned = { $user } tiene { $count }/{ $limit } advertencias.
mod-limit-reason = { $limit } advertencias
mod-limit-not-applied = Se alcanzó el límite de advertencias, pero: { $reason }
mod-warns-none = { $user } no tiene advertencias.
mod-no-reason = (sin motivo)
mod-warns-list = { $user } tiene { $count }/{ $limit } advertencias:
    { $warns }
mod-warn-removed = Se quitó la última advertencia de { $user }.
mod-warns-reset = Se quitaron todas las advertencias de { $user }.
# plain
mod-warn-already-removed = Esa advertencia ya se quitó.
mod-warn-removed-by = { $admin } quitó una advertencia de { $user }.
mod-warnlimit-is = En <b>{ $title }</b> el límite de advertencias es { $limit }.
mod-warnlimit-set = En <b>{ $title }</b> el límite de advertencias ahora es { $limit }.
mod-warnlimit-bad = «{ $input }» no es un límite de advertencias: indica un número del 1 al { $max }.
mod-mode-ban = expulsión
mod-mode-kick = sacar del grupo
mod-mode-mute = silencio
mod-mode-tban = expulsión durante { $duration }
mod-mode-tmute = silencio durante { $duration }
mod-warnmode-is = En <b>{ $title }</b>, llegar al límite de advertencias significa: { $mode }.
mod-warnmode-set = En <b>{ $title }</b>, llegar al límite de advertencias ahora significa: { $mode }.
mod-warnmode-bad = «{ $input }» no es un modo de advertencia: usa ban, kick, mute, tban &lt;duración&gt; o tmute &lt;duración&gt;.
mod-log-empty = Todavía no se ha moderado nada en <b>{ $title }</b>.
mod-log = Últimas acciones de moderación en <b>{ $title }</b>:
    { $actions }

## Guards
module-locks = Bloqueos
module-blacklists = Lista negra
module-antiflood = Antiflood
module-filters = Filtros
module-disabling = Desactivar comandos
help-locks = Prohíbe tipos de mensajes en el grupo; el mensaje bloqueado de un miembro se borra (los administradores están exentos).
    • /lock sticker url — /unlock url — /locks — /locktypes
    • «bot»: se quita el bot que añada un miembro.
help-blacklists = Palabras y frases que el grupo no quiere (una por línea; * vale por el resto de una palabra). El mensaje de un miembro que contenga una se borra y se aplica la acción de la lista negra.
    • /addblacklist, /rmblacklist, /blacklist, /blacklistmode delete|warn|mute|kick|ban|tmute 2h|tban 2d
help-antiflood = Sanciona a un miembro que envía demasiados mensajes: seguidos (/setflood 5) o en un tiempo (/setfloodtimer 10 30s). /setfloodmode elige la sanción; /flood muestra los ajustes.
help-filters = Palabras clave que el bot responde: /filter hola ¡Bienvenido! — varias a la vez: /filter ("buenos días", hola) ¡Hola! — o responde a un mensaje con /filter hola "buenos días" para contestar con él. Las palabras coinciden enteras, sin importar mayúsculas. /stop quita una, /stopall (el creador) todas, /filters las lista.
help-disabling = Desactiva comandos de miembros en el grupo: /disable id rules. Los administradores los conservan. /enable, /disabled, /disableable, /disabledel on|off (borrar los comandos desactivados que envíen los miembros).
cmd-lock = Bloquear tipos de mensajes
cmd-unlock = Desbloquear tipos de mensajes
cmd-locks = Ver qué está bloqueado
cmd-locktypes = Ver qué se puede bloquear
cmd-addblacklist = Añadir a la lista negra (una entrada por línea)
cmd-rmblacklist = Quitar de la lista negra
cmd-blacklist = Ver la lista negra
cmd-blacklistmode = Ver o fijar qué pasa con quien envía algo de la lista negra
cmd-setflood = Fijar cuántos mensajes seguidos son flood (u off)
cmd-setfloodtimer = Fijar cuántos mensajes en un tiempo son flood (u off)
cmd-setfloodmode = Fijar la sanción por flood
cmd-flood = Ver los ajustes de antiflood
cmd-filter = Añadir un filtro: una palabra clave y su respuesta
cmd-stop = Quitar un filtro
cmd-stopall = Quitar todos los filtros (el creador)
cmd-filters = Ver los filtros
cmd-disable = Desactivar comandos para los miembros
cmd-enable = Volver a activar comandos
cmd-disabled = Ver los comandos desactivados
cmd-disableable = Ver los comandos que se pueden desactivar
cmd-disabledel = Borrar los comandos desactivados que envíen los miembros (on/off)
guard-bot-lacks-right = ⚠️ Para que esto funcione necesito el permiso de administrador para { $right } en <b>{ $title }</b>.
guard-privacy-mode = ⚠️ Mi modo de privacidad me oculta los mensajes normales del grupo: hazme administrador (o desactiva el modo de privacidad con @BotFather) para que esto funcione.
guard-action-bad = «{ $input }» no es ninguna de estas: { $actions }.
guard-action-delete = borrar el mensaje
guard-action-warn = advertencia
onoff-bad-option = «{ $option }» no es una opción: usa on u off.
locks-usage = ¿Qué bloqueo? Por ejemplo: /{ $command } sticker url. /locktypes los lista.
locks-unknown = No conozco estos tipos: { $kinds }. /locktypes los lista.
locks-locked = Bloqueado en <b>{ $title }</b>: { $kinds }.
locks-unlocked = Desbloqueado en <b>{ $title }</b>: { $kinds }.
locks-none = No hay nada bloqueado en <b>{ $title }</b>.
locks-list = Bloqueado en <b>{ $title }</b>: { $kinds }.
locks-types = Tipos que se pueden bloquear: { $kinds }.
blacklist-usage = Indica las entradas, una por línea: /{ $command } casino
blacklist-too-many = <b>{ $title }</b> puede tener como mucho { $max } entradas en la lista negra.
blacklist-added = Añadido a la lista negra de <b>{ $title }</b>: { $entries }.
blacklist-removed = Quitado de la lista negra de <b>{ $title }</b>: { $count }.
blacklist-none = <b>{ $title }</b> no tiene lista negra.
blacklist-list = Lista negra de <b>{ $title }</b> (acción: { $action }):
    { $entries }
blacklistmode-is = En <b>{ $title }</b>, un mensaje de la lista negra se borra, y además: { $action }.
blacklistmode-set = En <b>{ $title }</b>, un mensaje de la lista negra ahora se borra, y además: { $action }.
blacklist-reason = una palabra de la lista negra
flood-off = no
flood-consecutive = { $count } mensajes seguidos
flood-timer = { $count } mensajes en { $duration }
flood-settings = Antiflood en <b>{ $title }</b>:
    • seguidos: { $consecutive }
    • en un tiempo: { $timer }
    • sanción: { $action }
flood-bad-count = «{ $input }» no es un límite de flood: indica un número del { $min } al { $max }, u off.
flood-timer-usage = Indica un número del { $min } al { $max } y una duración de 1s a 24h, por ejemplo /setfloodtimer 10 30s, u off.
flood-reason = flood
filters-usage = Indica una palabra clave y su respuesta: /filter hola ¡Bienvenido! — o varias: /filter ("buenos días", hola) ¡Hola! — o responde a un mensaje con /filter hola.
filters-keyword-too-long = «{ $keyword }» es demasiado larga para una palabra clave: como mucho { $max } caracteres.
filters-too-many = <b>{ $title }</b> puede tener como mucho { $max } filtros.
filters-saved = Filtros guardados en <b>{ $title }</b>: { $keywords }.
filters-stop-usage = ¿Qué filtro? /stop hola
filters-stopped = Filtros quitados de <b>{ $title }</b>: { $keywords }.
filters-not-found = <b>{ $title }</b> no tiene filtro para { $keywords }.
filters-creator-only = Solo el creador de <b>{ $title }</b> puede quitar todos los filtros.
# plain
filters-creator-only-plain = Solo el creador del grupo puede quitar todos los filtros.
filters-clear-confirm = ¿Quitar todos los filtros de <b>{ $title }</b>? No se puede deshacer.
button-filters-clear = Quitar todos los filtros
filters-cleared = { $count ->
        [one] Un filtro quitado.
       *[other] { $count } filtros quitados.
    }
filters-none = <b>{ $title }</b> no tiene filtros.
filters-list = { $count ->
        [one] Un filtro en <b>{ $title }</b>:
       *[other] { $count } filtros en <b>{ $title }</b>:
    }
    { $filters }
disable-usage = ¿Qué comandos? /disable id rules — /disableable los lista.
enable-usage = ¿Qué comandos? /enable id rules
disabled-now = Desactivado para los miembros en <b>{ $title }</b>: { $commands }.
enabled-now = Activado de nuevo en <b>{ $title }</b>: { $commands }.
disable-not-disableable = Estos no se pueden desactivar: { $commands }. /disableable lista los que sí.
disabled-none = No hay comandos desactivados en <b>{ $title }</b>.
disabled-list = Desactivado para los miembros en <b>{ $title }</b>: { $commands }.
disabledel-on-note = Se borran cuando un miembro los usa.
disableable-list = Comandos que un grupo puede desactivar para sus miembros:
    { $commands }
disabledel-is-on = En <b>{ $title }</b>, los comandos desactivados que envían los miembros se borran.
disabledel-is-off = En <b>{ $title }</b>, los comandos desactivados que envían los miembros se ignoran, sin borrarlos.
disabledel-set-on = En <b>{ $title }</b>, los comandos desactivados que envían los miembros ahora se borran.
disabledel-set-off = En <b>{ $title }</b>, los comandos desactivados que envían los miembros ahora solo se ignoran.
