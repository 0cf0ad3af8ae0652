"""The IRIs and value pools of the transactions data (as in the reference sample)."""

from __future__ import annotations

ENTITIES = "http://oxfordsemantic.tech/transactions/entities#"
PROPERTIES = "http://oxfordsemantic.tech/transactions/properties#"
CLASSES = "http://oxfordsemantic.tech/transactions/classes#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
XSD = "http://www.w3.org/2001/XMLSchema#"

RISK_TAGS = ("HRG", "HRNRA")
PARTY_TYPES = ("IND", "ORG")
USAGES = ("Primary", "Residential")
FIRST_NAMES = (
    "Michael",
    "Laura",
    "Jimmy",
    "Bradley",
    "Jorge",
    "Janet",
    "Sonya",
    "Joshua",
    "Maria",
    "David",
    "Emily",
    "Robert",
    "Linda",
    "James",
    "Patricia",
    "John",
    "Jennifer",
    "William",
    "Elizabeth",
    "Richard",
    "Susan",
)
LAST_NAMES = (
    "Miller",
    "Valdez",
    "Brooks",
    "Collins",
    "Norris",
    "Hill",
    "Greer",
    "Solomon",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Craig",
    "Mckay",
    "Dunn",
    "Benton",
)
ORG_SUFFIXES = ("Inc", "LLC", "Group", "PLC", "and Sons")
STREETS = (
    "Selena Pines",
    "Henry Lodge",
    "Jodi Mount",
    "Roberson Square",
    "Oak Street",
    "Maple Avenue",
    "Hill Road",
)
CITIES = (
    "Longtown",
    "Richardview",
    "West Jeffreyhaven",
    "Teresahaven",
    "Port Emily",
    "Lake Susan",
    "Northfield",
)
STATES = ("AR", "OH", "RI", "CA", "NY", "TX", "WA", "FL", "MA", "IL")
