"""Word lists the company generator draws from.

Kept apart from the generator so the lists can grow without touching logic.
Every name is invented; the domains are plausible but carry no traffic (the
sandbox only ever listens on loopback).
"""

from __future__ import annotations

FIRST_NAMES = (
    "Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas",
    "Karin", "Lukas", "Maja", "Nils", "Olivia", "Paul", "Quinn", "Rosa", "Simon", "Tara",
    "Ulrich", "Vera", "Walter", "Xenia", "Yusuf", "Zoe", "Amir", "Bianca", "Carlos", "Dana",
    "Emil", "Fatima", "Georg", "Hanna", "Igor", "Julia", "Kofi", "Lea", "Marco", "Nora",
    "Oskar", "Priya", "Rafael", "Sofia", "Tomas", "Ursula", "Viktor", "Wen", "Yara", "Zeno",
)  # fmt: skip

LAST_NAMES = (
    "Albrecht", "Berger", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Hoffmann",
    "Ivanova", "Jansen", "Keller", "Lindqvist", "Moreau", "Nowak", "Okafor", "Petrov",
    "Quist", "Rossi", "Schmidt", "Tanaka", "Ueda", "Vogel", "Weber", "Xu", "Yilmaz",
    "Zimmermann", "Andersen", "Bauer", "Costa", "Duarte", "Engel", "Fontaine", "Gruber",
    "Hansen", "Iqbal", "Jung", "Kowalski", "Lorenz", "Meyer", "Nakamura", "Olsen", "Pereira",
)  # fmt: skip

OUR_COMPANIES = (
    ("Brightwater Analytics", "brightwater-analytics.com"),
    ("Northfield Systems", "northfield-systems.com"),
    ("Copperleaf Software", "copperleaf-software.com"),
    ("Silverline Robotics", "silverline-robotics.com"),
)

COMPANY_PREFIXES = (
    "Alder", "Birch", "Cedar", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Iris",
    "Juniper", "Kestrel", "Lumen", "Maple", "Nimbus", "Onyx", "Pioneer", "Quartz", "Redwood",
    "Summit", "Tidal", "Umber", "Vertex", "Willow", "Xylo", "Yonder", "Zephyr", "Atlas",
    "Beacon", "Cobalt", "Drift", "Evergreen", "Fjord", "Glacier", "Helix", "Indigo", "Jade",
)  # fmt: skip

COMPANY_SUFFIXES = (
    ("Logistics", "logistics"), ("Foods", "foods"), ("Energy", "energy"),
    ("Healthcare", "health"), ("Manufacturing", "mfg"), ("Retail", "retail"),
    ("Bank", "bank"), ("Insurance", "insurance"), ("Pharma", "pharma"),
    ("Telecom", "telecom"), ("Motors", "motors"), ("Media", "media"),
)  # fmt: skip

COUNTRY_TLDS = ("de", "fr", "co.uk", "nl", "se", "es", "it")

FREE_MAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "gmx.de", "web.de", "icloud.com")

NEWSLETTER_SENDERS = (
    ("SaaS Weekly", "news@saasweekly-digest.com"),
    ("Sales Leaders Forum", "newsletter@salesleaders-forum.org"),
    ("Cloud Pricing Monitor", "updates@cloudpricing-monitor.net"),
    ("Trade Fair Hannover", "info@tradefair-updates.de"),
)

TEAMS = ("Enterprise", "Mid-Market", "Public Sector", "Nordics")

TITLES = (
    "Head of Procurement", "CTO", "IT Director", "Operations Manager", "CFO",
    "Project Lead", "Purchasing Agent", "VP Engineering", "Facility Manager", "CEO",
)  # fmt: skip

OPEN_STAGES = ("Qualification", "Discovery", "Proposal", "Negotiation")

OPPORTUNITY_TOPICS = (
    "Platform licence", "Support renewal", "Pilot rollout", "Data migration", "Expansion",
    "Training package", "Integration project", "Analytics add-on",
)  # fmt: skip

CUSTOMER_SUBJECTS = (
    "Pricing for {topic}", "Next steps on {topic}", "Questions about the {topic} offer",
    "{topic}: draft contract", "Meeting notes - {topic}", "Timeline for {topic}",
    "Budget approval for {topic}", "{topic} - technical requirements",
)  # fmt: skip

INTERNAL_SUBJECTS = (
    "Forecast review", "Team lunch on Friday", "Pipeline update", "Travel expenses",
    "Handover of territory", "Quarterly targets", "CRM hygiene reminder",
)  # fmt: skip

PERSONAL_SUBJECTS = (
    "Dinner on Saturday?", "Photos from the holiday", "Football practice moved",
    "Birthday present ideas", "Flat viewing", "Book recommendation",
)  # fmt: skip

NEWSLETTER_SUBJECTS = (
    "This week in SaaS pricing", "5 ways to shorten your sales cycle", "Your monthly digest",
    "Webinar invitation: forecasting that works", "Trade fair: exhibitor news",
)  # fmt: skip

SENTENCES = (
    "Thanks for the quick reply.",
    "Could you send over the updated figures?",
    "We discussed this internally and have a few questions.",
    "Please find the details below.",
    "Let me know if Thursday works for a call.",
    "Our legal team is reviewing the terms.",
    "The budget has been approved for next quarter.",
    "I have attached the revised proposal.",
    "Can we move the deadline by a week?",
    "Looking forward to working together.",
)

MEETING_SUBJECTS = (
    "Kick-off {topic}", "Demo: {topic}", "Quarterly business review", "Contract walkthrough",
    "Technical deep dive", "Steering committee",
)  # fmt: skip

LOCATIONS = ("Teams meeting", "Customer office", "Our office, room Fjord", "Phone call")
