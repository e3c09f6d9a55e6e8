# Generated from config.xml (Services > conegate > Settings); changes here are overwritten.
{% if not helpers.empty('OPNsense.conegate.general.enabled') %}
conegate_enable="YES"
{% else %}
conegate_enable="NO"
{% endif %}
conegate_config="/usr/local/etc/conegate/conegate.json"
