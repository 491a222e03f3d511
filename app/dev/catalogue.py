"""What seeded worlds are made of: the demo partners and their profiles, and the names,
companies and needs that generated leads draw from."""

from __future__ import annotations

from typing import Any

from app.domain.reference import CompanySize

# slug -> (organisation name, business profile name, head office country)
DEMO_PARTNERS = {
    "contoso": ("Contoso Ltd", "Contoso Cloud Consulting", "US"),
    "fabrikam": ("Fabrikam Inc", "Fabrikam Data & AI", "DE"),
    "northwind": ("Northwind Traders", "Northwind Modern Work", "BR"),
}
PLATFORM_SLUG = "platform"
# Leads generated into each demo inbox.
DEMO_LEADS = {"contoso": 90, "fabrikam": 60, "northwind": 60}

COMPANIES = [
    "Adatum",
    "Litware",
    "Proseware",
    "Tailspin Toys",
    "Wide World Importers",
    "Woodgrove Bank",
    "Alpine Ski House",
    "Blue Yonder Airlines",
    "Coho Winery",
    "Consolidated Messenger",
    "Fourth Coffee",
    "Graphic Design Institute",
    "Humongous Insurance",
    "Lucerne Publishing",
    "Margie's Travel",
    "Relecloud",
    "School of Fine Art",
    "Southridge Video",
    "Trey Research",
    "VanArsdel",
]
INDUSTRIES = [
    "Retail",
    "Financial services",
    "Healthcare",
    "Manufacturing",
    "Education",
    "Government",
    "Media",
    "Travel",
    "Energy",
    "Professional services",
]
NEEDS = [
    "Migrate our on-premises servers to the cloud before our lease ends",
    "Set up Teams and SharePoint for 200 remote employees",
    "Build a customer data platform with Power BI dashboards",
    "Harden our identity setup after a phishing incident",
    "Modernise a legacy .NET application and move it to containers",
    "Automate invoice processing with AI document extraction",
    "Implement Dynamics 365 Sales for our field team",
    "Cost review of our Azure subscriptions",
]
FIRST = [
    "Ana",
    "Bruno",
    "Chen",
    "Dana",
    "Elif",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemal",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
]
LAST = ["Silva", "Okafor", "Schmidt", "Tanaka", "Rossi", "Nguyen", "Kowalski", "Haddad"]
COUNTRIES = ["US", "DE", "BR", "GB", "FR", "PT", "JP", "IN", "CA", "AU"]
CURRENCIES = ["USD", "EUR", "BRL", "GBP"]
DEAL_KINDS = ["Cloud migration", "Modern Work", "Data platform", "Security review"]


# What each demo partner's business profile says (R1), by slug; other partners (bulk) get a
# generic cloud profile.
DEMO_PROFILES: dict[str, dict[str, Any]] = {
    "contoso": {
        "description": "Contoso Cloud Consulting moves mid-size and enterprise companies to Azure: "
        "assessments, landing zones, cloud migration of servers, databases and .NET applications, "
        "and the security hardening that comes with them (identity, Defender, Sentinel).",
        "website": "https://contoso.example",
        "keywords": ["cloud migration", "Azure", "security", "landing zones", "identity"],
        "industries": ["Retail", "Financial services", "Manufacturing"],
        "solution_areas": ["Azure Infrastructure", "Security"],
        "preferred_sizes": [],
        "competencies": ["Infrastructure (Azure)", "Security"],
        "endorsements": ["Azure Expert MSP", "Solutions Partner for Security"],
    },
    "fabrikam": {
        "description": "Fabrikam Data & AI builds data platforms and analytics for growing "
        "companies: Microsoft Fabric and Synapse, Power BI dashboards, machine learning and "
        "generative AI assistants on Azure OpenAI, from the first proof of concept to production.",
        "website": "https://fabrikam.example",
        "keywords": ["data", "AI", "analytics", "Power BI", "machine learning"],
        "industries": ["Healthcare", "Energy", "Retail"],
        "solution_areas": ["Data & AI"],
        "preferred_sizes": [
            CompanySize.SIZE_51_250.value,
            CompanySize.SIZE_251_1000.value,
            CompanySize.SIZE_1001_5000.value,
            CompanySize.SIZE_5001_10000.value,
        ],
        "competencies": ["Data Analytics", "AI and Machine Learning"],
        "endorsements": ["Solutions Partner for Data & AI (Azure)"],
    },
    "northwind": {
        "description": "Northwind Modern Work sets up the digital workplace: Microsoft 365 "
        "rollouts, Teams telephony and meeting rooms, SharePoint intranets and document "
        "management, and adoption training for remote and hybrid teams.",
        "website": "https://northwind.example",
        "keywords": ["modern work", "Teams", "SharePoint", "Microsoft 365", "intranet"],
        "industries": ["Education", "Professional services", "Government"],
        "solution_areas": ["Modern Work"],
        "preferred_sizes": [
            CompanySize.SIZE_1_9.value,
            CompanySize.SIZE_10_50.value,
            CompanySize.SIZE_51_250.value,
            CompanySize.SIZE_251_1000.value,
        ],
        "competencies": ["Teamwork Deployment", "Messaging"],
        "endorsements": ["Solutions Partner for Modern Work"],
    },
}
GENERIC_PROFILE: dict[str, Any] = {
    "description": "Cloud consulting and managed services on Azure and Microsoft 365.",
    "keywords": ["cloud", "Azure", "managed services"],
    "industries": ["Professional services"],
    "solution_areas": ["Azure Infrastructure"],
    "preferred_sizes": [],
    "competencies": [],
    "endorsements": [],
}
