"""Delivery channels to patients (email over SMTP, SMS through a Twilio-compatible gateway)
and what they read at delivery time: contact details and messaging consent in PostgreSQL."""
