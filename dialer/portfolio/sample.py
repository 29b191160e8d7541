"""A realistic, made-up portfolio CSV in the import format (the input of `dialer demo`)."""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

from dialer.portfolio.importer import COLUMNS
from dialer.portfolio.phones import LEGACY_MOBILE_PREFIXES

# Family names with their rough share of the population (Nguyễn is about four in ten).
FAMILY_NAMES = {
    "Nguyễn": 38, "Trần": 11, "Lê": 9.5, "Phạm": 7, "Hoàng": 5, "Huỳnh": 5, "Phan": 4.5,
    "Vũ": 3.9, "Võ": 3.9, "Đặng": 2.1, "Bùi": 2, "Đỗ": 1.4, "Hồ": 1.3, "Ngô": 1.3,
    "Dương": 1, "Lý": 0.5,
}  # fmt: skip
MIDDLE_NAMES = {
    "male": ["Văn", "Văn", "Đức", "Minh", "Quốc", "Hữu", "Thanh", "Công", "Xuân"],
    "female": ["Thị", "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Kim", "Mỹ", "Thùy"],
}
GIVEN_NAMES = {
    "male": ["An", "Bình", "Cường", "Dũng", "Hải", "Hùng", "Khoa", "Long", "Nam", "Phúc",
             "Quang", "Sơn", "Tuấn", "Việt", "Thắng", "Hiếu", "Trung", "Đạt"],
    "female": ["Hoa", "Lan", "Linh", "Mai", "Ngọc", "Phương", "Thảo", "Trang", "Hương",
               "Hạnh", "Yến", "Nhung", "Huyền", "Vân", "Oanh", "Tâm"],
}  # fmt: skip
# Branch -> (CCCD province code, landline area code).
BRANCHES = {
    "Hà Nội": ("001", "24"),
    "TP. Hồ Chí Minh": ("079", "28"),
    "Đà Nẵng": ("048", "236"),
    "Cần Thơ": ("092", "292"),
    "Hải Phòng": ("031", "225"),
    "Nghệ An": ("040", "238"),
    "Đồng Nai": ("075", "251"),
    "Bình Dương": ("074", "274"),
    "Khánh Hòa": ("056", "258"),
    "Quảng Ninh": ("022", "203"),
}
BRANCH_WEIGHTS = (25, 30, 8, 6, 7, 5, 6, 6, 4, 3)
# Product -> (account number prefix, principal range in đồng, term range in months).
PRODUCTS = {
    "cash loan": ("CL", (10_000_000, 70_000_000), (12, 48)),
    "consumer durable loan": ("CD", (4_000_000, 25_000_000), (6, 18)),
    "credit card": ("CC", (5_000_000, 50_000_000), (12, 24)),
    "motorbike loan": ("MB", (18_000_000, 45_000_000), (12, 36)),
}
PRODUCT_WEIGHTS = (40, 25, 20, 15)
# Mobile prefixes (national significant number, without the trunk 0) by carrier.
MOBILE_PREFIXES = (
    *("32", "33", "34", "35", "36", "37", "38", "39", "86", "96", "97", "98"),  # Viettel
    *("81", "82", "83", "84", "85", "88", "91", "94"),  # VinaPhone
    *("70", "76", "77", "78", "79", "90", "93"),  # MobiFone
)
_NEW_TO_LEGACY = {new: old for old, new in LEGACY_MOBILE_PREFIXES.items()}
# DPD bands (B1 1-30 ... B7 181-360, a few B8 > 360) and their share of the book.
DPD_BANDS = ((1, 30), (31, 60), (61, 90), (91, 180), (181, 360), (361, 720))
DPD_WEIGHTS = (36, 20, 14, 15, 12, 3)
REFERENCE_RELATIONS = {
    "male": ["vợ", "bố", "mẹ", "anh trai", "đồng nghiệp"],
    "female": ["chồng", "bố", "mẹ", "anh trai", "đồng nghiệp"],
}
INVALID_NUMBERS = ("09123", "0123456", "1234567890123", "00000")


def _vnd(amount: int) -> str:
    return f"{amount:,}".replace(",", ".")


def _mobile(rng: random.Random) -> str:
    return "0" + rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**7):07d}"


def _legacy_mobile(rng: random.Random) -> str:
    """A mobile written in its pre-2018 11-digit form (0168 123 4567 for 038 123 4567)."""
    return "0" + rng.choice(sorted(_NEW_TO_LEGACY.values())) + f"{rng.randrange(10**7):07d}"


def _landline(rng: random.Random, area: str) -> str:
    subscriber_digits = 10 - len(area)  # 11 digits with the trunk 0
    first = rng.choice("3456")
    rest = rng.randrange(10 ** (subscriber_digits - 1))
    number = f"0{area}{first}{rest:0{subscriber_digits - 1}d}"
    head, rest = number[: len(area) + 1], number[len(area) + 1 :]
    # Written the way a branch clerk types it: "028 3822 1234", "0236 382 2123".
    return f"{head} {rest[:-4]} {rest[-4:]}"


def generate_portfolio_csv(
    path: str | Path, n_accounts: int, seed: int, today: date | None = None
) -> None:
    """Write n_accounts made-up accounts to path (UTF-8 with BOM, like Excel); same seed, same file.

    today (default: the real date) anchors due dates: due_date = today - dpd.
    """
    rng = random.Random(seed)
    today = today or date.today()
    used_account_nos: set[str] = set()
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for _ in range(n_accounts):
            gender = rng.choice(("male", "female"))
            name = " ".join(
                (
                    rng.choices(list(FAMILY_NAMES), weights=list(FAMILY_NAMES.values()))[0],
                    rng.choice(MIDDLE_NAMES[gender]),
                    rng.choice(GIVEN_NAMES[gender]),
                )
            )
            branch = rng.choices(list(BRANCHES), weights=BRANCH_WEIGHTS)[0]
            province, area = BRANCHES[branch]
            birth_year = rng.randint(1965, 2004)
            # CCCD: province, gender/century digit, two-digit birth year, six random digits.
            century_gender = (0 if birth_year < 2000 else 2) + (gender == "female")
            national_id = (
                f"{province}{century_gender}{birth_year % 100:02d}{rng.randrange(10**6):06d}"
            )

            product = rng.choices(list(PRODUCTS), weights=PRODUCT_WEIGHTS)[0]
            prefix, (low, high), (min_term, max_term) = PRODUCTS[product]
            account_no = ""
            while not account_no or account_no in used_account_nos:
                account_no = f"{prefix}{rng.randrange(10**9):09d}"
            used_account_nos.add(account_no)

            low_dpd, high_dpd = rng.choices(DPD_BANDS, weights=DPD_WEIGHTS)[0]
            dpd = rng.randint(low_dpd, high_dpd)
            principal = rng.randrange(low, high, 100_000)
            installment = principal // rng.randint(min_term, max_term)
            missed = dpd // 30 + 1
            late_fees = rng.randrange(0, 50) * 10_000 * missed
            overdue = installment * missed + late_fees
            # Keep the principal larger than the overdue amount (long-overdue accounts are
            # mostly principal by then).
            overdue = min(overdue, principal * 9 // 10) // 1000 * 1000

            mobile = _mobile(rng)
            roll = rng.random()
            if roll < 0.05:
                mobile = _legacy_mobile(rng)
            elif roll < 0.07:
                mobile = rng.choice(INVALID_NUMBERS)
            elif roll < 0.12:
                mobile = f"{mobile[:4]} {mobile[4:7]} {mobile[7:]}"
            home = work = ""
            if rng.random() < 0.40:
                if rng.random() < 0.5:
                    home = _landline(rng, area)
                else:
                    work = _landline(rng, area)
            reference = relation = ""
            if rng.random() < 0.30:
                reference = _mobile(rng)
                relation = rng.choice(REFERENCE_RELATIONS[gender])

            writer.writerow(
                (
                    account_no,
                    name,
                    national_id,
                    product,
                    _vnd(overdue),
                    _vnd(principal),
                    dpd,
                    (today - timedelta(days=dpd)).strftime("%d/%m/%Y"),
                    branch,
                    mobile,
                    home,
                    work,
                    reference,
                    relation,
                )
            )
