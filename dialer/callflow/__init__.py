"""The call flow: everything between "the carrier answered" and "the outcome is recorded".

One function per use case (answer an outbound call, handle a key press, answer an inbound
call, an agent's leg answering or dropping, a wrap-up running out). Each decides in terms
of the domains below it (campaigns, agents, outcomes, scripts) and returns a Reply: plain
data that the webhooks view turns into TwiML (telephony/twiml.py). See docs/ivr.md.
"""
